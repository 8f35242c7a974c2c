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
    // Weight casts kept for the span of one generation (see CacheWeights), by the weight's storage and shape (a
    // module's weight property may hand out a new wrapper of the same tensor on every call); null outside it.
    private Dictionary<(IntPtr Data, string Shape), Tensor>? _weights;

    /// <summary>The dtype of the matrix products; null: they run in the dtype of their inputs (no autocast).</summary>
    public ScalarType? DType { get; private set; }

    /// <summary>Turns mixed precision on; the weights must be float32 (they are the master copy).</summary>
    public void Enable(ScalarType dtype, ScalarType weights)
    {
        if (weights != ScalarType.Float32)
            throw new LwfInputException($"bf16 mixed precision keeps float32 master weights, but the model is loaded in {Checkpoints.DTypes.ToConfigName(weights)} " +
                "(--dtype): leave --dtype out, or drop bf16 to train in the model's dtype");
        // float16 would need a loss scaler (its range underflows small gradients); bf16 has float32's range.
        if (dtype != ScalarType.BFloat16)
            throw new LwfInputException($"mixed precision computes in bfloat16, not {dtype} (float16 needs a loss scaler, which is not built)");
        DType = dtype;
    }

    /// <summary>
    /// Keeps each weight's cast until the returned scope ends, as torch.autocast caches casts within its region:
    /// token-by-token decoding would otherwise cast every weight once per token. Only where the weights cannot
    /// change meanwhile (generation, under no_grad); nothing happens when autocast is off.
    /// </summary>
    public IDisposable CacheWeights()
    {
        if (DType is null || _weights is not null) return new CacheScope(null);
        _weights = [];
        return new CacheScope(this);
    }

    /// <summary>x [...,in] · weightᵀ [out,in] + bias [out] (nn.Linear's layout).</summary>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias) =>
        nn.functional.linear(Cast(x), Weight(weight), bias is null ? null : Weight(bias));

    public Tensor Linear(Linear layer, Tensor x) => Linear(x, layer.weight!, layer.bias);

    /// <summary>bias [out] + x [N,in] · weight [in,out] (transformers' Conv1D layout).</summary>
    public Tensor AddMm(Tensor bias, Tensor x, Tensor weight) => addmm(Weight(bias), Cast(x), Weight(weight), 1, 1);

    /// <summary>The tied vocabulary head: hidden [...,C] · embeddingᵀ [C,V].</summary>
    public Tensor TiedHead(Tensor hidden, Tensor embedding) => matmul(Cast(hidden), Weight(embedding).t());

    /// <summary>Scaled dot-product attention with its inputs (and a float mask) in the compute dtype.</summary>
    public Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? bias) =>
        Layers.Attend(Cast(q), Cast(k), Cast(v), bias is null ? null : Cast(bias));

    /// <summary>Weights cast and kept by the current <see cref="CacheWeights"/> scope.</summary>
    public int CachedWeights => _weights?.Count ?? 0;

    private Tensor Cast(Tensor t) => DType is { } dtype && t.dtype != dtype && t.is_floating_point() ? t.to(dtype) : t;

    private Tensor Weight(Tensor weight)
    {
        if (_weights is null || DType is null || weight.dtype != ScalarType.Float32 || is_grad_enabled()) return Cast(weight);
        var key = (weight.storage<float>().data_ptr(), $"{weight.storage_offset()}:{string.Join(",", weight.shape)}");
        if (!_weights.TryGetValue(key, out var cast))
            _weights[key] = cast = weight.detach().to(DType.Value).DetachFromDisposeScope();
        return cast;
    }

    private sealed class CacheScope(Autocast? owner) : IDisposable
    {
        public void Dispose()
        {
            if (owner?._weights is not { } weights) return;
            owner._weights = null;
            foreach (var cast in weights.Values) cast.Dispose();
        }
    }
}
