using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Training;

public sealed class FineTunerTests
{
    // Twelve records of varied length: the reference's learning records and slices of its batch.
    private static List<TokenizedRecord> Records()
    {
        using var reference = new Reference("gpt2-tiny");
        var rows = new List<long[]>();
        for (int r = 0; r < 4; r++) rows.Add(reference.Row("learn_ids", r));
        for (int r = 0; r < 3; r++) rows.Add(reference.Row("forget_ids", r));
        for (int r = 0; r < 2; r++) { rows.Add(reference.Row("input_ids", r)[..(8 + 3 * r)]); rows.Add(reference.Row("input_ids", r)[4..]); }
        rows.Add(reference.Row("greedy_ids", 0));
        return rows.Select(ids => new TokenizedRecord(ids, ids.Select((_, t) => t > 0).ToArray())).ToList();
    }

    private static (CausalLM Model, List<StepResult> Steps) Train(FineTuneOptions options, List<TokenizedRecord>? records = null)
    {
        var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        using var tuner = new FineTuner(model, options, padId: 0);
        return (model, tuner.Train(records ?? Records()).ToList());
    }

    private static double MeanLoss(CausalLM model, IReadOnlyList<TokenizedRecord> records)
    {
        using var _ = no_grad();
        using var batch = TokenBatch.Create(records, 0, CPU);
        var (sum, count) = TokenLoss.PerRow(model.Forward(batch.InputIds, batch.AttentionMask), batch.InputIds, batch.LossMask);
        return (sum.sum() / count.sum()).item<float>();
    }

    [Fact]
    public void The_loss_of_a_tiny_model_falls_on_a_small_dataset()
    {
        var records = Records();
        using var before = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        double initial = MeanLoss(before, records);
        var (model, steps) = Train(new FineTuneOptions { Steps = 40, LearningRate = 3e-3, MicroBatchSize = 4, WarmupSteps = 4 }, records);
        using (model)
        {
            double final = MeanLoss(model, records);
            Assert.True(final < 0.6 * initial, $"loss {initial:F3} → {final:F3}");
            Assert.True(steps[^1].Loss < steps[0].Loss);
            Assert.All(steps, s => Assert.True(double.IsFinite(s.Loss)));
        }
    }

    [Fact]
    public void Training_steps_leave_no_tensor_behind()
    {
        // Live TorchSharp tensors (handles not yet disposed) after step 2 and after step 8 of one run: a step
        // that leaves a handle to the finalizer shows up as growth (on a GPU such leaks ran out of memory).
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        using var tuner = new FineTuner(model, new FineTuneOptions { Steps = 8, LearningRate = 1e-3, MicroBatchSize = 3 }, padId: 0);
        // Handles an earlier test left to the finalizer must not be freed in the middle of the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var live = new List<long>();
        foreach (var step in tuner.Train(Records()))
            live.Add(Tensor.TotalCount);
        Assert.Equal(live[1], live[^1]);
    }

    [Fact]
    public void Two_runs_with_one_seed_give_identical_weights()
    {
        var options = new FineTuneOptions { Steps = 6, LearningRate = 1e-3, MicroBatchSize = 3, GradientAccumulation = 2, Seed = 11 };
        var (a, _) = Train(options);
        var (b, _) = Train(options);
        var (c, _) = Train(options with { Seed = 12 });
        using (a) using (b) using (c)
        {
            foreach (var ((n, p), (_, q)) in a.named_parameters().Zip(b.named_parameters()))
                Assert.True(p.bytes.SequenceEqual(q.bytes), $"{n} differs between two runs with one seed");
            Assert.Contains(a.named_parameters().Zip(c.named_parameters()), pair => !pair.First.parameter.bytes.SequenceEqual(pair.Second.parameter.bytes));
        }
    }

    [Fact]
    public void Gradient_sums_do_not_depend_on_how_records_are_cut_into_micro_batches()
    {
        // The step divides Σ∇(Σ token NLL) by the global token count, so the cut into micro-batches (and,
        // on a cluster, shards) must not change the sums. Records differ in length, so padding differs too.
        var records = Records().Take(8).ToList();
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        using var whole = LearningGradient.Accumulate(model, [records], padId: 0, GradientPrecision.Float64);
        using var pairs = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(records, 2), padId: 0, GradientPrecision.Float64);
        using var singles = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(records, 1), padId: 0, GradientPrecision.Float64);
        var reversed = Enumerable.Reverse(records).ToList();
        using var singlesReversed = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(reversed, 1), padId: 0, GradientPrecision.Float64);
        Assert.Equal(whole.Tokens, singles.Tokens);
        // Input tokens count the records' real tokens: padding (the whole batch pads to its longest record) is not counted.
        Assert.Equal(records.Sum(r => (long)r.InputIds.Length), whole.InputTokens);
        Assert.Equal(whole.InputTokens, singles.InputTokens);
        Assert.True(whole.InputTokens < records.Count * records.Max(r => r.InputIds.Length), "the records should differ in length");
        Assert.True(Math.Abs(whole.NllSum - singles.NllSum) <= 1e-5 * whole.NllSum);
        foreach (var (name, sum) in whole.Sums)
        {
            double scale = sum.abs().max().item<double>() + 1e-30;
            Assert.True(Reference.MaxAbsDiff(sum, pairs.Sums[name]) <= 1e-5 * scale, $"{name}: pairs differ");
            Assert.True(Reference.MaxAbsDiff(sum, singles.Sums[name]) <= 1e-5 * scale, $"{name}: singles differ");
            // One record per micro-batch: float64 sums of identical per-record gradients, in any order, round to the same float32.
            Assert.True(singles.Sums[name].to(ScalarType.Float32).bytes.SequenceEqual(singlesReversed.Sums[name].to(ScalarType.Float32).bytes), name);
        }
    }

    [Fact]
    public void Float32_sums_are_what_backward_accumulates_in_grad_and_agree_with_float64_sums()
    {
        // The default precision keeps no buffer of its own: micro-batch after micro-batch, backward adds into .grad.
        var records = Records().Take(8).ToList();
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        using var exact = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(records, 1), padId: 0, GradientPrecision.Float64);
        using var fast = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(records, 2), padId: 0, GradientPrecision.Float32);
        Assert.Throws<InvalidOperationException>(() => fast.Sums);
        Assert.Equal(exact.Tokens, fast.Tokens);
        Assert.Equal(exact.InputTokens, fast.InputTokens);
        Assert.True(Math.Abs(exact.NllSum - fast.NllSum) <= 1e-5 * exact.NllSum);
        using var scope = NewDisposeScope();
        foreach (var (name, p) in model.named_parameters())
        {
            var sum = exact.Sums[name];
            double scale = sum.abs().max().item<double>() + 1e-30;
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            Assert.True(Reference.MaxAbsDiff(sum, p.grad!) <= 1e-5 * scale, $"{name}: float32 .grad differs from the float64 sums");
        }
    }

    [Fact]
    public void Gradient_accumulation_reports_the_loss_of_one_big_batch()
    {
        var (big, bigSteps) = Train(new FineTuneOptions { Steps = 3, LearningRate = 1e-3, MicroBatchSize = 8, GradientAccumulation = 1 });
        var (accumulated, accSteps) = Train(new FineTuneOptions { Steps = 3, LearningRate = 1e-3, MicroBatchSize = 2, GradientAccumulation = 4 });
        using (big) using (accumulated)
        {
            for (int i = 0; i < 3; i++)
                Assert.True(Math.Abs(bigSteps[i].Loss - accSteps[i].Loss) <= 1e-4 * bigSteps[i].Loss, $"step {i + 1}: {bigSteps[i].Loss} vs {accSteps[i].Loss}");
            Assert.Equal(bigSteps.Select(s => s.LossTokens), accSteps.Select(s => s.LossTokens));
            Assert.Equal(bigSteps.Select(s => s.InputTokens), accSteps.Select(s => s.InputTokens));
        }
    }

    [Fact]
    public void The_schedule_warms_up_linearly_then_decays_by_cosine_to_zero()
    {
        Assert.Equal(0.0, LearningRateSchedule.Multiplier(0, 10, 110, LearningRateScheduler.Cosine));
        Assert.Equal(0.5, LearningRateSchedule.Multiplier(5, 10, 110, LearningRateScheduler.Cosine), 12);
        Assert.Equal(1.0, LearningRateSchedule.Multiplier(10, 10, 110, LearningRateScheduler.Cosine), 12);
        Assert.Equal(0.5, LearningRateSchedule.Multiplier(60, 10, 110, LearningRateScheduler.Cosine), 12);
        Assert.Equal(0.0, LearningRateSchedule.Multiplier(110, 10, 110, LearningRateScheduler.Cosine), 12);
    }

    [Fact]
    public void Clipping_bounds_the_update_and_reports_the_norm_before_clipping()
    {
        var (model, steps) = Train(new FineTuneOptions { Steps = 1, LearningRate = 1e-3, MicroBatchSize = 4, MaxGradNorm = 1e-3 });
        using (model) Assert.True(steps[0].GradNorm > 1e-3);
    }

    [Fact]
    public void Bad_options_are_refused_with_their_name()
    {
        var error = Assert.Throws<LwfInputException>(() => new FineTuneOptions { WarmupSteps = 20, Steps = 10 }.Validate());
        Assert.Contains("warmup steps", error.Message);
    }
}
