using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Forgetting;

public sealed class ForgettingStepTests
{
    private static double BatchNll(Lwf.Core.Models.CausalLM model, IReadOnlyList<TokenizedRecord> records)
    {
        using var _ = no_grad();
        using var batch = TokenBatch.Create(records, 0, CPU);
        var (sum, count) = TokenLoss.PerRow(model.Forward(batch.InputIds, batch.AttentionMask), batch.InputIds, batch.LossMask);
        return (sum.sum() / count.sum()).item<float>();
    }

    [Theory]
    [InlineData(ForgettingLossKind.Ga, 0.0)]
    [InlineData(ForgettingLossKind.Ga, 5.0)]
    [InlineData(ForgettingLossKind.Me, 0.0)]
    public void A_forgetting_step_raises_the_loss_on_its_batch(ForgettingLossKind loss, double protect)
    {
        using var reference = new Reference("gpt2-tiny");
        using var model = PretrainedModel.Load(reference.Dir);
        var batch = FisherReferenceTests.Rows(reference, "forget_ids");
        using var fisher = FisherReferenceTests.LearningFisher(model, reference);
        double before = BatchNll(model, batch);
        using var stepper = new ForgettingStepper(model, new ForgettingStepOptions { Loss = loss, Alpha = 1.0, LearningRate = 1e-3, FisherProtect = protect }, 0);
        stepper.UseFisher(fisher);
        double reported = stepper.Step(batch);
        Assert.True(Math.Abs(before - reported) <= 1e-5 * before, $"reported {reported}, measured {before}");
        Assert.True(BatchNll(model, batch) > before, $"NLL {before} → {BatchNll(model, batch)}");
    }

    [Fact]
    public void Fisher_protection_damps_the_update_most_where_the_fisher_is_largest()
    {
        using var reference = new Reference("gpt2-tiny");
        var batch = FisherReferenceTests.Rows(reference, "forget_ids");
        double Change(double protect, out double changeAtMaxFisher)
        {
            using var model = PretrainedModel.Load(reference.Dir);
            using var fisher = FisherReferenceTests.LearningFisher(model, reference);
            var before = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
            using var stepper = new ForgettingStepper(model, new ForgettingStepOptions { Alpha = 1, LearningRate = 1e-3, FisherProtect = protect }, 0);
            stepper.UseFisher(fisher);
            stepper.Step(batch);
            const string name = "transformer.h.1.mlp.c_fc.weight";
            var p = model.named_parameters().First(p => p.name == name).parameter;
            long argmax = fisher.Fisher(name).argmax().item<long>();
            changeAtMaxFisher = (p.flatten()[argmax] - before[name].flatten()[argmax]).abs().item<float>();
            return (p - before[name]).abs().sum().item<float>();
        }
        double free = Change(0, out double freeAtMax), damped = Change(100, out double dampedAtMax);
        Assert.True(damped < free);
        Assert.True(dampedAtMax < 0.05 * freeAtMax, $"{dampedAtMax} vs {freeAtMax}");
    }
}
