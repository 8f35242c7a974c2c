using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Lwf.Grains;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class ShardSpreadPlacementAttribute() : PlacementAttribute(ShardSpreadPlacement.Instance);
