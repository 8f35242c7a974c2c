using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Lwf.Grains;

public sealed class ShardSpreadPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s.ToString(), StringComparer.Ordinal).ToArray();
        string key = target.GrainIdentity.Key.ToString() ?? "";
        int slash = key.LastIndexOf('/');
        int index = slash >= 0 && int.TryParse(key[(slash + 1)..], out var i) ? i : 0;
        return Task.FromResult(silos[index % silos.Length]);
    }
}
