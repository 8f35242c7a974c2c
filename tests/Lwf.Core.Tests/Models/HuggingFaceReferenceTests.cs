using Lwf.Core.Checkpoints;
using Lwf.Core.Generation;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Models;

/// <summary>Our models against transformers' own outputs for the same weights.</summary>
public sealed class HuggingFaceReferenceTests
{
    public static TheoryData<string> Models => new() { "gpt2-tiny", "llama-tiny" };

    [Theory, MemberData(nameof(Models))]
    public void Logits_and_sequence_loss_match_transformers(string name)
    {
        using var reference = new Reference(name);
        using var model = PretrainedModel.Load(reference.Dir);
        using var _ = no_grad();
        var ids = reference["input_ids"];
        var mask = reference["attention_mask"];
        var logits = model.Forward(ids, mask);
        Assert.Equal(reference["logits"].shape, logits.shape);
        Assert.True(Reference.MaxAbsDiff(logits, reference["logits"]) <= 1e-4, $"logits differ by {Reference.MaxAbsDiff(logits, reference["logits"])}");
        var seqLoss = TokenLoss.PerRowMean(logits, ids, mask.to(ScalarType.Bool));
        Assert.True(Reference.MaxAbsDiff(seqLoss, reference["seq_loss"]) <= 1e-4, $"seq_loss differs by {Reference.MaxAbsDiff(seqLoss, reference["seq_loss"])}");
    }

    [Theory]
    [InlineData("gpt2-tiny", true)]
    [InlineData("gpt2-tiny", false)]
    [InlineData("llama-tiny", true)]
    [InlineData("llama-tiny", false)]
    public void Greedy_generation_matches_transformers(string name, bool useCache)
    {
        using var reference = new Reference(name);
        using var model = PretrainedModel.Load(reference.Dir);
        var prompt = reference.Row("greedy_prompt", 0);
        var expected = reference.Row("greedy_ids", 0)[prompt.Length..];
        var options = new GenerationOptions
        {
            MaxNewTokens = expected.Length, UseCache = useCache,
            StopTokenIds = GenerationConfig.StopTokenIds(reference.Dir, model.Config),
        };
        var generated = TextGenerator.Generate(model, [prompt], options)[0];
        Assert.Equal(expected, generated);
    }

    [Theory, MemberData(nameof(Models))]
    public void A_prompt_generates_the_same_alone_and_left_padded_in_a_batch(string name)
    {
        using var reference = new Reference(name);
        using var model = PretrainedModel.Load(reference.Dir);
        var shortPrompt = reference.Row("greedy_prompt", 0)[..3];
        var longPrompt = reference.Row("input_ids", 0)[..9];
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var alone = TextGenerator.Generate(model, [shortPrompt], options)[0];
        var batched = TextGenerator.Generate(model, [longPrompt, shortPrompt], options);
        Assert.Equal(alone, batched[1]);
        Assert.Equal(TextGenerator.Generate(model, [longPrompt], options)[0], batched[0]);
    }

    [Fact]
    public void Sampling_is_reproducible_by_seed_and_respects_top_k_one()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        long[] prompt = [5, 6, 7];
        var sample = new GenerationOptions { Greedy = false, Temperature = 1.5, TopP = 0.9, Seed = 7, MaxNewTokens = 10 };
        Assert.Equal(TextGenerator.Generate(model, [prompt], sample)[0], TextGenerator.Generate(model, [prompt], sample)[0]);
        Assert.NotEqual(TextGenerator.Generate(model, [prompt], sample)[0], TextGenerator.Generate(model, [prompt], sample with { Seed = 8 })[0]);
        // top-k = 1 leaves only the argmax: sampling must equal greedy.
        var greedy = TextGenerator.Generate(model, [prompt], new GenerationOptions { MaxNewTokens = 10 })[0];
        Assert.Equal(greedy, TextGenerator.Generate(model, [prompt], sample with { TopK = 1 })[0]);
    }

    [Fact]
    public void Generation_stops_on_eos_and_keeps_it()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        long[] prompt = [5, 6, 7];
        var free = TextGenerator.Generate(model, [prompt], new GenerationOptions { MaxNewTokens = 10 })[0];
        // Declare the third generated token a stop token: generation must end right there.
        var stopped = TextGenerator.Generate(model, [prompt], new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [free[2]] })[0];
        int first = Array.IndexOf(free, free[2]);
        Assert.Equal(free[..(first + 1)], stopped);
    }
}
