using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Training;


/// <summary>
/// A step's local gradient sum (Σ over micro-batches of ∇, per parameter) with the NLL sum and token counts it came
/// from, in the job's <see cref="GradientPrecision"/>. In float32 (the default) the sum is the parameters' own .grad,
/// which backward accumulates into, as in PyTorch: nothing is allocated beside the model. In float64 each
/// micro-batch's gradient is added into float64 tensors, so sums over the same records come out the same whatever
/// order (micro-batches, shards, silos) they were added in.
/// </summary>
public sealed class GradientSums : IDisposable
{
    private readonly Dictionary<string, Tensor>? _float64;
    private GradientTotals _totals;

    private GradientSums(GradientPrecision precision, Dictionary<string, Tensor>? float64)
    {
        Precision = precision;
        _float64 = float64;
    }

    public GradientPrecision Precision { get; }

    /// <summary>The float64 sums by parameter name (float64 precision only: in float32 the sums are the parameters' .grad).</summary>
    public IReadOnlyDictionary<string, Tensor> Sums => _float64 ?? throw new InvalidOperationException("float32 sums live in the parameters' .grad");

    public GradientTotals Totals => _totals;
    public double NllSum => _totals.NllSum;
    public long Tokens => _totals.LossTokens;
    public long InputTokens => _totals.InputTokens;
    /// <summary>Learning records added.</summary>
    public int Records { get; private set; }

    /// <summary>Forgetting records added.</summary>
    public int ForgetRecords { get; private set; }

    /// <summary>
    /// Empty sums for <paramref name="model"/>: one per replica per step. In float32 every parameter's .grad is set to
    /// zeros, so that a replica whose shards add nothing still all-reduces a gradient of every parameter.
    /// </summary>
    public static GradientSums Start(CausalLM model, GradientPrecision precision)
    {
        if (precision == GradientPrecision.Float64)
            return new(precision, model.named_parameters().ToDictionary(p => p.name,
                p => zeros(p.parameter.shape, ScalarType.Float64, p.parameter.device).DetachFromDisposeScope()));
        using var scope = NewDisposeScope(); // .grad handles; the parameters keep their own references
        using var _ = no_grad();
        foreach (var p in model.parameters())
        {
            if (p.grad is { } g) g.zero_();
            else p.grad = zeros_like(p);
        }
        return new(precision, null);
    }

    /// <summary>
    /// Adds micro-batch after micro-batch into these sums (the silo's shards, one after another, in index order);
    /// <paramref name="backward"/> runs one micro-batch's backward and returns its totals. Its records count as
    /// forgetting records when <paramref name="forgetting"/>.
    /// </summary>
    public void Add<T>(CausalLM model, IEnumerable<IReadOnlyList<T>> microBatches, Func<IReadOnlyList<T>, GradientTotals> backward, bool forgetting = false)
    {
        model.train();
        try
        {
            foreach (var micro in microBatches)
            {
                if (_float64 is not null) model.zero_grad();
                _totals += backward(micro);
                if (forgetting) ForgetRecords += micro.Count;
                else Records += micro.Count;
                if (_float64 is null) continue; // backward added into .grad
                // The .grad handles and their float64 copies are freed here, every micro-batch: left to the
                // finalizer they pile up (on a GPU, hundreds of MiB a step until it runs out of memory).
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                foreach (var (name, p) in model.named_parameters())
                    if (p.grad is { } g) _float64[name].PlusInPlace(g.to(ScalarType.Float64));
            }
        }
        finally
        {
            model.eval();
            if (_float64 is not null) model.zero_grad();
        }
    }

    /// <summary>Leaves the sums in every parameter's .grad (in the parameter's dtype); float32 sums are there already.</summary>
    public void WriteToGrad(CausalLM model)
    {
        if (_float64 is null) return;
        using var scope = NewDisposeScope(); // the parameter keeps its own reference to the new .grad
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            p.grad = _float64[name].to(p.dtype);
    }

    public void Dispose()
    {
        if (_float64 is null) return;
        foreach (var t in _float64.Values) t.Dispose();
    }
}
