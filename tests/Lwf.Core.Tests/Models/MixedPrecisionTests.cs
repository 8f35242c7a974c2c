using Lwf.Core.Checkpoints;
using Lwf.Core.Forgetting;
using Lwf.Core.Tests.Forgetting;
using Lwf.Core.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Models;

/// <summary>
/// The bf16 mixed-precision forward, Fisher and forgetting confidence against transformers' float32 outputs for the
/// same weights (tests/fixtures/hf) and PyTorch's own bf16 autocast forward (tests/fixtures/torch-bf16).
/// </summary>
/// <remarks>
/// Why these tolerances: bfloat16 keeps 8 significant bits, so each cast rounds by up to 2⁻⁹ relative and one step
/// of its grid is 2⁻⁸–2⁻⁷ relative. A logit is a chain of bf16 matrix products whose inputs are rounded at each cast,
/// and two correct bf16 implementations differ by where they round (which fused kernel, which accumulation order).
/// Logits: within 2⁻⁶ × the largest |logit|, four grid steps at that scale (transformers' bf16 tests use atol 1e-2 on
/// logits of this size). The autocast reference is PyTorch's CPU autocast (Debian's PyTorch 1.13; transformers is not
/// installable here) over a plain PyTorch GPT-2 / Llama whose float32 logits match transformers' to 2e-7; CUDA's
/// autocast keeps a few more ops in float32 (pow, hence transformers' GELU), a difference well inside the bound. Fisher and mean gradient: a square and a mean of gradients whose every product was bf16,
/// within 5 % of the tensor's largest entry; forgetting confidence, a sum over every parameter, within 2 %.
/// </remarks>
public sealed class MixedPrecisionTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "gpt2-tiny", "llama-tiny" };

    private const double LogitTolerance = 1.0 / 64;

    private static Tensor Masked(Tensor logits, Tensor mask) => logits.masked_select(mask.to(ScalarType.Bool).unsqueeze(-1).expand_as(logits));

    [Theory, MemberData(nameof(Models))]
    public void Bf16_logits_are_within_bf16_tolerance_of_transformers_and_of_pytorch_autocast(string name)
    {
        using var reference = new Reference(name);
        using var mixed = PretrainedModel.Load(reference.Dir, autocast: ScalarType.BFloat16);
        using var float32 = PretrainedModel.Load(reference.Dir);
        using var autocastFile = SafeTensorsFile.Open(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-bf16", name + ".safetensors"));
        using var _ = no_grad();
        var ids = reference["input_ids"];
        var mask = reference["attention_mask"];
        var transformers = Masked(reference["logits"], mask);
        var pytorchBf16 = Masked(autocastFile.Read("logits"), mask);
        var ours = Masked(mixed.Forward(ids, mask), mask);
        double scale = transformers.abs().max().item<float>();

        double fromTransformers = Reference.MaxAbsDiff(ours, transformers);
        double fromAutocast = Reference.MaxAbsDiff(ours, pytorchBf16);
        double autocastFromTransformers = Reference.MaxAbsDiff(pytorchBf16, transformers);
        output.WriteLine($"{name}: max |logit| {scale:F3}; ours − transformers fp32 {fromTransformers:E2}, ours − PyTorch bf16 autocast {fromAutocast:E2}, " +
            $"PyTorch bf16 autocast − transformers fp32 {autocastFromTransformers:E2}");
        Assert.True(fromTransformers <= LogitTolerance * scale, $"bf16 logits differ from transformers' by {fromTransformers:E3} > 2⁻⁶ × {scale:F3}");
        Assert.True(fromAutocast <= LogitTolerance * scale, $"bf16 logits differ from PyTorch's bf16 autocast by {fromAutocast:E3} > 2⁻⁶ × {scale:F3}");

        // The bf16 path did run in bf16: it differs from our own float32 forward (which matches transformers to 1e-4)
        // by about as much as PyTorch's autocast differs from transformers' float32.
        double fromFloat32 = Reference.MaxAbsDiff(ours, Masked(float32.Forward(ids, mask), mask));
        Assert.InRange(fromFloat32, autocastFromTransformers / 4, autocastFromTransformers * 4);

        var seqLoss = TokenLoss.PerRowMean(mixed.Forward(ids, mask), ids, mask.to(ScalarType.Bool));
        Assert.True(Reference.MaxAbsDiff(seqLoss, reference["seq_loss"]) <= 1e-2, $"seq_loss differs by {Reference.MaxAbsDiff(seqLoss, reference["seq_loss"])}");
    }

    [Theory, MemberData(nameof(Models))]
    public void Fisher_and_forgetting_confidence_of_the_bf16_path_are_float32_and_near_pytorchs(string name)
    {
        using var reference = new Reference(name);
        using var lm = PretrainedModel.Load(reference.Dir, autocast: ScalarType.BFloat16);
        using var estimate = FisherReferenceTests.LearningFisher(lm, reference);
        Assert.All(estimate.Names, n => Assert.Equal((ScalarType.Float32, ScalarType.Float32), (estimate.Fisher(n).dtype, estimate.GradMean(n).dtype)));
        double worst = FisherReferenceTests.AssertMatchesReference(reference, estimate.Fisher, estimate.GradMean, estimate.Names, tolerance: 5e-2);
        var scores = ForgettingConfidence.Score(lm, FisherReferenceTests.Rows(reference, "forget_ids"), ForgettingScorer.Fisher, estimate);
        var expected = reference["forget_confidence"].data<float>().ToArray();
        double worstFc = Enumerable.Range(0, expected.Length).Max(i => Math.Abs(scores[i] - expected[i]) / Math.Abs(expected[i]));
        output.WriteLine($"{name}: Fisher / mean gradient worst {worst:E2} of the largest entry; FC worst {worstFc:E2} relative");
        Assert.True(worstFc <= 2e-2, $"forgetting confidence off by {worstFc:E3} relative");
        Assert.True(worst > 0, "the bf16 path gave float32's Fisher bit for bit: autocast did not run");
    }

    [Fact]
    public void Generation_casts_each_weight_once_and_gives_the_tokens_of_casting_every_step()
    {
        using var reference = new Reference("gpt2-tiny");
        using var lm = PretrainedModel.Load(reference.Dir, autocast: ScalarType.BFloat16);
        var ids = reference["input_ids"];
        using (no_grad())
        {
            var uncached = lm.Forward(ids);
            using (lm.Autocast.CacheWeights())
            {
                var first = lm.Forward(ids);
                // Per layer c_attn, attn.c_proj, c_fc and mlp.c_proj, weight and bias: 8 × 2 layers, and the tied head.
                Assert.Equal(17, lm.Autocast.CachedWeights);
                var second = lm.Forward(ids);
                Assert.Equal(17, lm.Autocast.CachedWeights);
                Assert.Equal(0, Reference.MaxAbsDiff(first, uncached));
                Assert.Equal(0, Reference.MaxAbsDiff(second, uncached));
            }
            Assert.Equal(0, lm.Autocast.CachedWeights);
        }
        // Where gradients flow the casts are never kept (a kept cast would cut the weights off from their gradient).
        using (lm.Autocast.CacheWeights())
        {
            lm.Forward(ids).sum().backward();
            Assert.Equal(0, lm.Autocast.CachedWeights);
        }
        Assert.All(lm.parameters().Where(p => p.dim() >= 2), p => Assert.NotNull(p.grad));

        var prompt = reference.Row("greedy_prompt", 0);
        var options = new Lwf.Core.Generation.GenerationOptions { MaxNewTokens = 12, Greedy = true, UseCache = true };
        var cached = Lwf.Core.Generation.TextGenerator.Generate(lm, [prompt], options)[0];
        var recomputed = Lwf.Core.Generation.TextGenerator.Generate(lm, [prompt], options with { UseCache = false })[0];
        Assert.Equal(recomputed, cached);
    }

    [Fact]
    public void A_bf16_checkpoint_trained_in_mixed_precision_gets_float32_masters()
    {
        string bf16 = Path.Combine(TestPaths.NewTempDir(), "bf16");
        using (var stored = PretrainedModel.Load(TestPaths.Fixture("llama-tiny"), dtype: ScalarType.BFloat16))
            PretrainedModel.Save(stored, bf16);
        using var lm = PretrainedModel.Load(bf16, autocast: ScalarType.BFloat16);
        Assert.Equal(ScalarType.Float32, lm.WeightDType);
        Assert.Equal(ScalarType.BFloat16, lm.ComputeDType);
        using var plain = PretrainedModel.Load(bf16);
        Assert.Equal(ScalarType.BFloat16, plain.WeightDType);
    }

    [Fact]
    public void Mixed_precision_refuses_weights_that_are_not_float32()
    {
        var error = Assert.Throws<LwfInputException>(() => PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"), dtype: ScalarType.BFloat16, autocast: ScalarType.BFloat16));
        Assert.Contains("float32 master weights", error.Message);
    }
}
