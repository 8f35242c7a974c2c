using Lwf.Abstractions;
using Orleans.Runtime.Placement;

namespace Lwf.Grains;

public sealed class ShardSpreadPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.ToString(), StringComparer.Ordinal).ToArray();
        int index = ShardKey.TryParse(target.GrainIdentity.Key.ToString() ?? "", out var shard) ? shard.Index : 0;
        return Task.FromResult(silos[index % silos.Length]);
    }
}
