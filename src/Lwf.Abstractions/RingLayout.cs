namespace Lwf.Abstractions;

/// <summary>A ring as one member sees it: the epoch it was formed in, this member's rank, and every member's data-plane endpoint by rank.</summary>
[GenerateSerializer, Immutable]
public sealed record RingLayout(
    [property: Id(0)] long Epoch,
    [property: Id(1)] int Rank,
    [property: Id(2)] string[] Endpoints)
{
    public int WorldSize => Endpoints.Length;
}
