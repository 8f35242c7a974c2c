using Lwf.Core.Data;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>A gradient's totals: the NLL sum, the loss tokens it is over, and the records' real (unpadded) tokens.</summary>
public readonly record struct GradientTotals(double NllSum, long LossTokens, long InputTokens);

/// <summary>
/// Gradient sums per Hugging Face parameter name, in float64, with the NLL sum and loss-token count they
/// came from. Each micro-batch's float32 gradient is added in float64, so sums over the same records come
/// out the same whatever order (micro-batches, shards, silos) they were added in: with one record per
/// micro-batch, a step's gradient is bit-identical in one process and on any cluster layout.
/// </summary>
public sealed class GradientSums : IDisposable
{
    private readonly Dictionary<string, Tensor> _sums;
    private GradientTotals _totals;

    private GradientSums(Dictionary<string, Tensor> sums) => _sums = sums;

    public IReadOnlyDictionary<string, Tensor> Sums => _sums;
    public GradientTotals Totals => _totals;
    public double NllSum => _totals.NllSum;
    public long Tokens => _totals.LossTokens;
    public long InputTokens => _totals.InputTokens;
    public int Records { get; private set; }

    /// <summary>Empty sums for every parameter of <paramref name="model"/>, on its device: one per replica per step.</summary>
    public static GradientSums Zeros(CausalLM model) =>
        new(model.named_parameters().ToDictionary(p => p.name, p => zeros(p.parameter.shape, ScalarType.Float64, p.parameter.device).DetachFromDisposeScope()));

    /// <summary>Accumulates micro-batch after micro-batch: <paramref name="backward"/> leaves one micro-batch's gradient in .grad.</summary>
    public static GradientSums Accumulate<T>(CausalLM model, IEnumerable<T> microBatches, Func<T, (double Nll, long Tokens, long InputTokens, int Records)> backward)
    {
        var sums = Zeros(model);
        sums.Add(model, microBatches, backward);
        return sums;
    }

    /// <summary>Adds micro-batch after micro-batch into these sums (the silo's shards, one after another, in index order).</summary>
    public void Add<T>(CausalLM model, IEnumerable<T> microBatches, Func<T, (double Nll, long Tokens, long InputTokens, int Records)> backward)
    {
        var parameters = model.named_parameters().ToList();
        model.train();
        try
        {
            foreach (var micro in microBatches)
            {
                model.zero_grad();
                var (n, t, i, r) = backward(micro);
                _totals = new GradientTotals(_totals.NllSum + n, _totals.LossTokens + t, _totals.InputTokens + i);
                Records += r;
                // The .grad handles and their float64 copies are freed here, every micro-batch: left to the
                // finalizer they pile up (on a GPU, hundreds of MiB a step until it runs out of memory).
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                foreach (var (name, p) in parameters)
                    if (p.grad is { } g) _sums[name].add_(g.to(ScalarType.Float64));
            }
        }
        finally
        {
            model.eval();
            model.zero_grad();
        }
    }

    /// <summary>Sets every parameter's .grad to its sum (in the parameter's dtype).</summary>
    public void WriteToGrad(CausalLM model)
    {
        using var scope = NewDisposeScope(); // the parameter keeps its own reference to the new .grad
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            p.grad = _sums[name].to(p.dtype);
    }

    public void Dispose()
    {
        foreach (var t in _sums.Values) t.Dispose();
    }
}

/// <summary>The learning step's work on a set of records: Σ over records of ∇(Σ token NLL), unnormalised.</summary>
public static class LearningGradient
{
    /// <summary>Records cut, in order, into micro-batches of at most <paramref name="size"/>.</summary>
    public static List<IReadOnlyList<TokenizedRecord>> MicroBatches(IReadOnlyList<TokenizedRecord> records, int size) =>
        records.Chunk(size).Select(c => (IReadOnlyList<TokenizedRecord>)c).ToList();

    public static GradientSums Accumulate(CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId)
    {
        var sums = GradientSums.Zeros(model);
        AddTo(sums, model, microBatches, padId);
        return sums;
    }

    /// <summary>Adds Σ over the micro-batches' records of ∇(Σ token NLL) into <paramref name="sums"/>.</summary>
    public static void AddTo(GradientSums sums, CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId) =>
        sums.Add(model, microBatches, micro =>
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro, padId, model.Device);
            var (sum, _) = TokenLoss.PerRow(model.Forward(batch.InputIds, batch.AttentionMask), batch.InputIds, batch.LossMask);
            var total = sum.sum();
            total.backward();
            return (total.item<float>(), batch.LossTokens, batch.InputTokens, micro.Count);
        });
}
