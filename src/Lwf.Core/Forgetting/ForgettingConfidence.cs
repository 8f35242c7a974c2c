using Lwf.Core.Data;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

/// <summary>
/// Scores self-generated samples. The Fisher scorer needs one gradient per sample, reduced against F and gL
/// at once, so memory is O(parameters) whatever the number of samples: no per-sample gradient is kept.
/// </summary>
public static class ForgettingConfidence
{
    /// <summary>
    /// The samples' scores. <paramref name="indices"/> are their global indices (default 0, 1, …): the random scorer
    /// draws one stream per global index, so a sample's score does not depend on which shard scores it.
    /// </summary>
    public static double[] Score(CausalLM model, IReadOnlyList<TokenizedRecord> samples, ForgettingScorer scorer,
        FisherEstimate? fisher, long seed = 0, Action<int>? progress = null, IReadOnlyList<int>? indices = null)
    {
        if (indices is not null && indices.Count != samples.Count)
            throw new ArgumentException($"{indices.Count} indices for {samples.Count} samples", nameof(indices));
        var scores = new double[samples.Count];
        if (scorer == ForgettingScorer.Random)
        {
            for (int i = 0; i < scores.Length; i++) scores[i] = RandomScore(seed, indices?[i] ?? i);
            progress?.Invoke(scores.Length);
            return scores;
        }
        if (scorer is ForgettingScorer.Fisher or ForgettingScorer.Inverse && fisher is null)
            throw new LwfInputException($"the {scorer.ToString().ToLowerInvariant()} scorer needs a Fisher estimate");
        for (int i = 0; i < samples.Count; i++)
        {
            scores[i] = scorer switch
            {
                ForgettingScorer.Likelihood => RecordGradient.MeanLogProbability(model, samples[i]),
                ForgettingScorer.Fisher => FisherConfidence(model, samples[i], fisher!),
                _ => -FisherConfidence(model, samples[i], fisher!),
            };
            progress?.Invoke(i + 1);
        }
        model.zero_grad();
        return scores;
    }

    /// <summary>A sample's random score from (seed, global index): the same on any shard.</summary>
    private static double RandomScore(long seed, long index) => new Random(Training.Seeds.ForRandom(seed, index, 0x5eed)).NextDouble();

    /// <summary>FC of one sample: its gradient g reduced at once as Σ_j F_j·g_j·(g_j − 2·gL_j), in float64.</summary>
    public static double FisherConfidence(CausalLM model, TokenizedRecord sample, FisherEstimate fisher)
    {
        RecordGradient.Compute(model, sample);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var total = zeros(1, ScalarType.Float64, model.Device);
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.grad is null) continue;
            var g = p.grad.to(ScalarType.Float32);
            total.PlusInPlace((fisher.Fisher(name) * g * (g - fisher.GradMean(name).mul(KeptScalars.Two))).sum().to(ScalarType.Float64));
        }
        return total.item<double>();
    }
}
