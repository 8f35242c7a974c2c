namespace Lwf.Core.Training;

/// <summary>
/// What a step's gradient is summed in, over micro-batches, a silo's shards and the ring.
/// </summary>
public enum GradientPrecision
{
    /// <summary>
    /// As PyTorch and DDP: backward accumulates micro-batch after micro-batch into the parameters' float32 .grad,
    /// and the ring all-reduces .grad in place (float32 on the wire). No buffer beyond the model's own gradients;
    /// a layout's sums are deterministic, but another layout rounds them in another order.
    /// </summary>
    Float32,

    /// <summary>
    /// Each micro-batch's gradient is added into float64 sums, which go float64 on the wire and round to float32
    /// once: with one record per micro-batch, a step's gradient is bit-identical in one process and on any cluster
    /// layout. A check of the cluster against one process, at the price of a float64 buffer the model's size per
    /// replica and twice the bytes on the wire.
    /// </summary>
    Float64,
}
