using Lwf.Core.Data;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>
/// The learning step's work on a set of records: adds Σ over records of ∇(Σ token NLL) into the
/// parameters' <c>.grad</c>, unnormalised, so that sums from any split of the step's records (micro-batches,
/// shards, silos) add up to the step's gradient; the optimiser divides by the global token count.
/// </summary>
public static class LearningGradient
{
    /// <summary>Records cut, in order, into micro-batches of at most <paramref name="size"/>.</summary>
    public static List<IReadOnlyList<TokenizedRecord>> MicroBatches(IReadOnlyList<TokenizedRecord> records, int size) =>
        records.Chunk(size).Select(c => (IReadOnlyList<TokenizedRecord>)c).ToList();

    /// <summary>Adds the micro-batches' gradient sums to .grad (no zeroing); returns ΣNLL and the loss-token count.</summary>
    public static (double NllSum, long Tokens) Accumulate(CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId)
    {
        model.train();
        double nll = 0;
        long tokens = 0;
        foreach (var micro in microBatches)
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro, padId, model.Device);
            var (sum, _) = TokenLoss.PerRow(model.Forward(batch.InputIds, batch.AttentionMask), batch.InputIds, batch.LossMask);
            var total = sum.sum();
            total.backward();
            nll += total.item<float>();
            tokens += batch.LossTokens;
        }
        model.eval();
        return (nll, tokens);
    }
}
