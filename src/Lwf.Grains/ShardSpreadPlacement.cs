namespace Lwf.Grains;

/// <summary>
/// Shards "job/i" go to silo i mod n of the compatible silos in address order: spread evenly, and the same
/// spread again on the remaining silos when one leaves.
/// </summary>
[GenerateSerializer, Immutable]
public sealed class ShardSpreadPlacement : PlacementStrategy
{
    public static readonly ShardSpreadPlacement Instance = new();
}
