using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>
/// torch.autocast's rule for the ops these models run, which TorchSharp lacks: with a lower-precision dtype set,
/// the matrix products (linear layers, the vocabulary head, attention) cast their inputs and weights to it, and
/// everything else runs in the dtype it is given. The weights stay float32 (the masters); each cast is an autograd
/// op, so gradients come back float32 into <c>.grad</c>, accumulate there in float32, and the optimiser, Fisher and
/// forgetting confidence never see a bf16 number. The residual stream stays float32 (float32 + bf16 promotes to
/// float32), so layer norms, RMS norms, RoPE, the softmax inside the loss and the loss itself are float32, as
/// transformers runs under autocast.
/// </summary>
public sealed class Autocast
{
    /// <summary>The dtype of the matrix products; null: they run in the dtype of their inputs (no autocast).</summary>
    public ScalarType? DType { get; private set; }

    /// <summary>Turns mixed precision on; the weights must be float32 (they are the master copy).</summary>
    public void Enable(ScalarType dtype, ScalarType weights)
    {
        if (weights != ScalarType.Float32)
            throw new LwfInputException($"bf16 mixed precision keeps float32 master weights, but the model is loaded in {Checkpoints.DTypes.ToConfigName(weights)} " +
                "(--dtype): leave --dtype out, or drop bf16 to train in the model's dtype");
        if (dtype is not (ScalarType.BFloat16 or ScalarType.Float16))
            throw new LwfInputException($"autocast computes in bfloat16 or float16, not {dtype}");
        DType = dtype;
    }

    /// <summary>x [...,in] · weightᵀ [out,in] + bias [out] (nn.Linear's layout).</summary>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias) =>
        nn.functional.linear(Cast(x), Cast(weight), bias is null ? null : Cast(bias));

    public Tensor Linear(Linear layer, Tensor x) => Linear(x, layer.weight!, layer.bias);

    /// <summary>bias [out] + x [N,in] · weight [in,out] (transformers' Conv1D layout).</summary>
    public Tensor AddMm(Tensor bias, Tensor x, Tensor weight) => addmm(Cast(bias), Cast(x), Cast(weight), 1, 1);

    public Tensor MatMul(Tensor a, Tensor b) => matmul(Cast(a), Cast(b));

    /// <summary>Scaled dot-product attention with its inputs (and a float mask) in the compute dtype.</summary>
    public Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? bias) =>
        Layers.Attend(Cast(q), Cast(k), Cast(v), bias is null ? null : Cast(bias));

    private Tensor Cast(Tensor t) => DType is { } dtype && t.dtype != dtype && t.is_floating_point() ? t.to(dtype) : t;
}
