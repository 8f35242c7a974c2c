using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Forgetting;

/// <summary>Fisher, mean gradient and forgetting confidence against PyTorch's (tests/fixtures/hf).</summary>
public sealed class FisherReferenceTests
{
    public static TheoryData<string> Models => new() { "gpt2-tiny", "llama-tiny" };

    internal static List<TokenizedRecord> Rows(Reference reference, string name)
    {
        long rows = reference[name].shape[0];
        return Enumerable.Range(0, (int)rows).Select(r => reference.Row(name, r))
            .Select(ids => new TokenizedRecord(ids, ids.Select((_, t) => t > 0).ToArray())).ToList();
    }

    /// <summary>F and gL over the fixture's learning records, one record at a time.</summary>
    internal static FisherEstimate LearningFisher(Lwf.Core.Models.CausalLM model, Reference reference)
    {
        using var accumulator = FisherAccumulator.For(model);
        accumulator.Accumulate(model, Rows(reference, "learn_ids"));
        return accumulator.ToEstimate();
    }

    /// <summary>Every Fisher and mean-gradient tensor within <paramref name="tolerance"/> × its largest entry; returns the worst such ratio.</summary>
    internal static double AssertMatchesReference(Reference reference, Func<string, Tensor> fisher, Func<string, Tensor> gradMean, IEnumerable<string> names,
        double tolerance = 1e-3)
    {
        int checkedTensors = 0;
        double worst = 0;
        foreach (var name in names)
        {
            foreach (var (prefix, ours) in new[] { ("fisher.", fisher(name)), ("grad_mean.", gradMean(name)) })
            {
                var theirs = reference[prefix + name];
                double scale = theirs.abs().max().item<float>();
                double error = Reference.MaxAbsDiff(ours, theirs);
                Assert.True(error <= tolerance * scale, $"{prefix}{name}: max error {error:E3} > {tolerance:G} × {scale:E3}");
                worst = Math.Max(worst, error / scale);
                checkedTensors++;
            }
        }
        Assert.Equal(reference.Names.Count(n => n.StartsWith("fisher.") || n.StartsWith("grad_mean.")), checkedTensors);
        return worst;
    }

    [Theory, MemberData(nameof(Models))]
    public void Fisher_and_mean_gradient_match_pytorch(string model)
    {
        using var reference = new Reference(model);
        using var lm = PretrainedModel.Load(reference.Dir);
        using var estimate = LearningFisher(lm, reference);
        Assert.Equal(4, estimate.Count);
        AssertMatchesReference(reference, estimate.Fisher, estimate.GradMean, estimate.Names);
    }

    [Theory, MemberData(nameof(Models))]
    public void Forgetting_confidence_matches_pytorch(string model)
    {
        using var reference = new Reference(model);
        using var lm = PretrainedModel.Load(reference.Dir);
        using var estimate = LearningFisher(lm, reference);
        var scores = ForgettingConfidence.Score(lm, Rows(reference, "forget_ids"), ForgettingScorer.Fisher, estimate);
        var expected = reference["forget_confidence"].data<float>().ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(scores[i] - expected[i]) <= 1e-3 * Math.Abs(expected[i]), $"FC[{i}] = {scores[i]}, PyTorch {expected[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Fisher_sums_over_any_split_into_shards_equal_the_whole(int shards)
    {
        using var reference = new Reference("llama-tiny");
        using var lm = PretrainedModel.Load(reference.Dir);
        var records = Rows(reference, "learn_ids").Concat(Rows(reference, "forget_ids")).Concat(Rows(reference, "input_ids").Take(1)).ToList();
        using var whole = FisherAccumulator.For(lm);
        whole.Accumulate(lm, records);
        // Uneven, interleaved split: record i goes to shard (i * 7) % shards.
        var parts = Enumerable.Range(0, shards).Select(_ => FisherAccumulator.For(lm)).ToList();
        for (int i = 0; i < records.Count; i++) parts[(i * 7) % shards].Accumulate(lm, [records[i]]);
        using var merged = parts[0];
        foreach (var part in parts.Skip(1)) { merged.Add(part); part.Dispose(); }
        Assert.Equal(whole.Count, merged.Count);
        foreach (var name in whole.Names)
        {
            double scale = whole.SumSquares(name).abs().max().item<double>() + 1e-30;
            Assert.True(Reference.MaxAbsDiff(whole.SumSquares(name), merged.SumSquares(name)) <= 1e-12 * scale, name);
            Assert.True(Reference.MaxAbsDiff(whole.Sum(name), merged.Sum(name)) <= 1e-12 * (whole.Sum(name).abs().max().item<double>() + 1e-30), name);
        }
    }

    [Fact]
    public void Inverse_is_the_reverse_order_of_fisher_and_random_is_seeded()
    {
        using var reference = new Reference("gpt2-tiny");
        using var lm = PretrainedModel.Load(reference.Dir);
        using var estimate = LearningFisher(lm, reference);
        var samples = Rows(reference, "forget_ids").Concat(Rows(reference, "learn_ids")).ToList();
        var fisher = ForgettingConfidence.Score(lm, samples, ForgettingScorer.Fisher, estimate);
        var inverse = ForgettingConfidence.Score(lm, samples, ForgettingScorer.Inverse, estimate);
        var all = new ForgettingSelection(Fraction: 1.0);
        Assert.Equal(all.Choose(fisher).Reverse(), all.Choose(inverse));
        Assert.Equal(ForgettingConfidence.Score(lm, samples, ForgettingScorer.Random, null, seed: 3),
            ForgettingConfidence.Score(lm, samples, ForgettingScorer.Random, null, seed: 3));
        var likelihood = ForgettingConfidence.Score(lm, samples, ForgettingScorer.Likelihood, null);
        Assert.All(likelihood, l => Assert.True(l < 0));
    }

    [Fact]
    public void Selection_by_fraction_top_k_and_threshold()
    {
        double[] scores = [0.5, 3, -1, 3, 2];
        Assert.Equal([1, 3], new ForgettingSelection(Fraction: 0.4).Choose(scores));
        Assert.Equal([1, 3, 4], new ForgettingSelection(Fraction: 0.5).Choose(scores)); // ceil(2.5)
        Assert.Equal([1, 3, 4, 0], new ForgettingSelection(TopK: 4).Choose(scores));
        Assert.Equal([1, 3, 4], new ForgettingSelection(Threshold: 1.0).Choose(scores));
        Assert.Throws<LwfInputException>(() => new ForgettingSelection(Fraction: 0.5, TopK: 2).Choose(scores));
    }
}
