using Lwf.Core.Checkpoints;
using Lwf.Core.Pretraining;
using Lwf.Core.Tests.Tasks;

namespace Lwf.Core.Tests.Pretraining;

public sealed class PretrainerTests(CorpusFixture corpora) : IClassFixture<CorpusFixture>
{
    private static readonly PretrainOptions Tiny = new()
    {
        Layers = 1, Embedding = 32, Heads = 2, Context = 32, Steps = 20, BatchSize = 4, HeldOutDocuments = 10, MaxWindowsPerDomain = 60, KnowledgeRepeats = 1,
    };

    [Fact]
    public void A_tiny_base_model_lowers_held_out_perplexity_in_every_domain_saves_in_hf_format_and_is_reused()
    {
        string dir = Path.Combine(TestPaths.NewTempDir(), "base");
        var report = Pretrainer.Run(corpora.DataDirectory, dir, Tiny);
        Assert.False(report.Cached);
        Assert.Equal(["brown", "sotu"], report.Domains.Select(d => d.Domain));
        // The knowledge is measured with the forgetting tasks' own evaluation, against four choices.
        Assert.Equal(["capitals", "fortunes"], report.Knowledge.Select(k => k.Task));
        Assert.All(report.Knowledge, k =>
        {
            Assert.True(k.TrainWindows > 0 && k.Records > 0, k.Task);
            Assert.InRange(k.Chance, 0.25, 0.34); // four choices, a few records with three where distractors repeat
            Assert.InRange(k.After, 0, 1);
        });
        Assert.All(report.Domains, d =>
        {
            Assert.True(d.TrainWindows > 0 && d.HeldOutRecords > 0, d.Domain);
            Assert.True(d.After < d.Before, $"{d.Domain}: {d.Before} -> {d.After}");
        });
        using (var model = PretrainedModel.Load(dir)) Assert.Equal(report.Parameters, model.ParameterCount);
        var weights = File.ReadAllBytes(Path.Combine(dir, "model.safetensors"));

        var again = Pretrainer.Run(corpora.DataDirectory, dir, Tiny);
        Assert.True(again.Cached);
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(dir, "model.safetensors")));

        var other = Pretrainer.Run(corpora.DataDirectory, dir, Tiny with { Seed = 7 }); // other options: trained again
        Assert.False(other.Cached);
        Assert.NotEqual(weights, File.ReadAllBytes(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void Impossible_shapes_are_refused_before_anything_runs()
    {
        var error = Assert.Throws<LwfInputException>(() => Pretrainer.Run(corpora.DataDirectory, TestPaths.NewTempDir(), Tiny with { Embedding = 30, Heads = 4 }));
        Assert.Contains("divisible by the heads", error.Message);
    }
}
