using static TorchSharp.torch;

namespace Lwf.Core.Collectives;

/// <summary>World size 1: `lwf train`'s collective. The sum over one replica is its own value.</summary>
public sealed class SingleProcessCollective : ICollective
{
    public static readonly SingleProcessCollective Instance = new();

    public int Rank => 0;

    public int WorldSize => 1;

    public Task AllReduceAsync(IReadOnlyList<Tensor> tensors, double[] scalars, CancellationToken cancellation) => Task.CompletedTask;
}
