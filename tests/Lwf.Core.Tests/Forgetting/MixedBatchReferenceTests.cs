using Lwf.Core.Checkpoints;
using Lwf.Core.Forgetting;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Forgetting;

/// <summary>
/// One LWF learning step's gradient (learning records and forgetting records in one loss mean) against plain PyTorch:
/// tests/fixtures/torch-mixed, written by `tools/torch_reference.py mixed` (see its README).
/// </summary>
public sealed class MixedBatchReferenceTests
{
    private const double Alpha = 0.2, Beta = 0.1;
    private const int PromptTokens = 4;

    public static TheoryData<string, string> Cases()
    {
        var cases = new TheoryData<string, string>();
        foreach (var model in new[] { "gpt2-tiny", "llama-tiny" })
            foreach (var kind in new[] { "vanilla", "ga", "me", "npo" })
                cases.Add(model, kind);
        return cases;
    }

    [Theory, MemberData(nameof(Cases))]
    public void The_gradient_of_a_weighted_mixed_batch_is_within_1e_5_of_pytorch(string model, string kind)
    {
        using var reference = new Reference(model);
        using var expected = SafeTensorsFile.Open(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-mixed", model + ".safetensors"));
        using var lm = PretrainedModel.Load(reference.Dir);
        var learn = FisherReferenceTests.Rows(reference, "learn_ids");
        var npoReference = expected.Read("npo_reference").data<float>().ToArray();
        var forget = FisherReferenceTests.Rows(reference, "forget_ids")
            .Select((r, i) => new ForgettingRecord(r with { LossMask = r.InputIds.Select((_, t) => t >= PromptTokens).ToArray() }, npoReference[i]))
            .ToList();

        using var sums = GradientSums.Start(lm, GradientPrecision.Float32);
        LearningGradient.AddTo(sums, lm, [learn], padId: 0);
        if (kind != "vanilla")
        {
            var loss = new ForgettingLoss { Kind = Enum.Parse<ForgettingLossKind>(kind, ignoreCase: true), Alpha = Alpha, NpoBeta = Beta };
            ForgettingGradient.AddTo(sums, lm, [forget], loss, padId: 0);
            Assert.Equal(3, sums.ForgetRecords);
            Assert.Equal(3 * (10 - PromptTokens), sums.Totals.ForgetTokens);
        }
        Assert.Equal(4 * 11, sums.Totals.LossTokens);

        int compared = 0;
        double worst = 0;
        using var scope = NewDisposeScope();
        foreach (var (name, p) in lm.named_parameters())
        {
            var ours = p.grad! / sums.Totals.Divisor; // the step's mean over every loss token, as FineTuner divides
            double error = Reference.MaxAbsDiff(ours, expected.Read($"grad.{kind}.{name}"));
            Assert.True(error <= 1e-5, $"{model} {kind} {name}: max |ours − PyTorch| = {error:E3}");
            worst = Math.Max(worst, error);
            compared++;
        }
        Assert.Equal(expected.Entries.Keys.Count(k => k.StartsWith($"grad.{kind}.", StringComparison.Ordinal)), compared);
    }

    [Fact]
    public void Forgetting_records_move_the_gradient_so_the_test_can_tell_the_losses_apart()
    {
        // The fixture's four gradients differ well beyond the tolerance: a loss computed wrongly cannot pass as another.
        using var expected = SafeTensorsFile.Open(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-mixed", "gpt2-tiny.safetensors"));
        const string name = "transformer.h.0.mlp.c_fc.weight";
        var kinds = new[] { "vanilla", "ga", "me", "npo" };
        for (int i = 0; i < kinds.Length; i++)
            for (int j = i + 1; j < kinds.Length; j++)
                Assert.True(Reference.MaxAbsDiff(expected.Read($"grad.{kinds[i]}.{name}"), expected.Read($"grad.{kinds[j]}.{name}")) > 1e-4, $"{kinds[i]} vs {kinds[j]}");
    }
}
