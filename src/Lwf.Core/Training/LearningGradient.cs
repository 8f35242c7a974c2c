using Lwf.Core.Data;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>The learning step's work on a set of records: Σ over records of ∇(Σ token NLL), unnormalised.</summary>
public static class LearningGradient
{
    /// <summary>Records cut, in order, into micro-batches of at most <paramref name="size"/>.</summary>
    public static List<IReadOnlyList<T>> MicroBatches<T>(IReadOnlyList<T> records, int size) =>
        records.Chunk(size).Select(c => (IReadOnlyList<T>)c).ToList();

    public static GradientSums Accumulate(CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId,
        GradientPrecision precision)
    {
        var sums = GradientSums.Start(model, precision);
        AddTo(sums, model, microBatches, padId);
        return sums;
    }

    /// <summary>Adds Σ over the micro-batches' records of ∇(Σ token NLL) into <paramref name="sums"/>.</summary>
    public static void AddTo(GradientSums sums, CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches, long padId) =>
        sums.Add(model, microBatches, micro =>
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro, padId, model.Device);
            var (sum, _) = model.TokenNll(batch.InputIds, batch.AttentionMask, batch.LossMask);
            var total = sum.sum();
            total.backward();
            return new GradientTotals(total.item<float>(), batch.LossTokens, batch.InputTokens);
        });
}
