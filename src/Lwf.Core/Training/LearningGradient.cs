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
public sealed class GradientSums(Dictionary<string, Tensor> sums, GradientTotals totals, int records) : IDisposable
{
    public IReadOnlyDictionary<string, Tensor> Sums => sums;
    public GradientTotals Totals => totals;
    public double NllSum => totals.NllSum;
    public long Tokens => totals.LossTokens;
    public long InputTokens => totals.InputTokens;
    public int Records => records;

    /// <summary>Accumulates micro-batch after micro-batch: <paramref name="backward"/> leaves one micro-batch's gradient in .grad.</summary>
    public static GradientSums Accumulate<T>(CausalLM model, IEnumerable<T> microBatches, Func<T, (double Nll, long Tokens, long InputTokens, int Records)> backward)
    {
        var parameters = model.named_parameters().ToList();
        var sums = parameters.ToDictionary(p => p.name, p => zeros(p.parameter.shape, ScalarType.Float64, p.parameter.device).DetachFromDisposeScope());
        double nll = 0;
        long tokens = 0, inputTokens = 0;
        int records = 0;
        model.train();
        try
        {
            foreach (var micro in microBatches)
            {
                model.zero_grad();
                var (n, t, i, r) = backward(micro);
                nll += n; tokens += t; inputTokens += i; records += r;
                // The .grad handles and their float64 copies are freed here, every micro-batch: left to the
                // finalizer they pile up (on a GPU, hundreds of MiB a step until it runs out of memory).
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                foreach (var (name, p) in parameters)
                    if (p.grad is { } g) sums[name].add_(g.to(ScalarType.Float64));
            }
        }
        finally
        {
            model.eval();
            model.zero_grad();
        }
        return new GradientSums(sums, new GradientTotals(nll, tokens, inputTokens), records);
    }

    /// <summary>Sets every parameter's .grad to its sum (in the parameter's dtype).</summary>
    public void WriteToGrad(CausalLM model)
    {
        using var scope = NewDisposeScope(); // the parameter keeps its own reference to the new .grad
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            p.grad = sums[name].to(p.dtype);
    }

    public void Dispose()
    {
        foreach (var t in sums.Values) t.Dispose();
    }
}

/// <summary>The learning step's work on a set of records: Σ over records of ∇(Σ token NLL), unnormalised.</summary>
public static class LearningGradient
{
    /// <summary>Records cut, in order, into micro-batches of at most <paramref name="size"/>.</summary>
    public static List<IReadOnlyList<TokenizedRecord>> MicroBatches(IReadOnlyList<TokenizedRecord> records, int size) =>
        records.Chunk(size).Select(c => (IReadOnlyList<TokenizedRecord>)c).ToList();

    public static GradientSums Accumulate(CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId) =>
        GradientSums.Accumulate(model, microBatches, micro =>
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro, padId, model.Device);
            var (sum, _) = TokenLoss.PerRow(model.Forward(batch.InputIds, batch.AttentionMask), batch.InputIds, batch.LossMask);
            var total = sum.sum();
            total.backward();
            return (total.item<float>(), batch.LossTokens, batch.InputTokens, micro.Count);
        });
}
