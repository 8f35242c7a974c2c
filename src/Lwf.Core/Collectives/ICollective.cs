using static TorchSharp.torch;

namespace Lwf.Core.Collectives;

/// <summary>
/// The replicas' collective (DESIGN.md §2): what DDP calls a process group. Every replica of a job calls the
/// same operations in the same order; the sums come back in place on every replica, so replicas that apply
/// the same optimiser step to them stay equal without weights ever travelling.
/// </summary>
public interface ICollective
{
    /// <summary>This replica's position in the ring (0 … <see cref="WorldSize"/> − 1).</summary>
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>
    /// Sums <paramref name="tensors"/> (float32 or float64, any device) and <paramref name="scalars"/> over every
    /// replica, in place. For a given layout the order of the additions is fixed, so the result is bit-identical
    /// from run to run.
    /// </summary>
    Task AllReduceAsync(IReadOnlyList<Tensor> tensors, double[] scalars, CancellationToken cancellation);
}
