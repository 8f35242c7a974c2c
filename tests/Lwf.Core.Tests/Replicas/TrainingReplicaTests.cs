using Lwf.Core.Data;
using Lwf.Core.Collectives;
using Lwf.Core.Jobs;
using Lwf.Core.Replicas;
using Lwf.Core.Tests.Jobs;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Replicas;

public sealed class TrainingReplicaTests
{
    [Theory]
    [InlineData("float32")]
    [InlineData("float64")]
    public async Task Replica_steps_leave_no_tensor_behind(string precision)
    {
        // The step `lwf train` and every silo run (local sums → reduce → apply). A handle left to the finalizer
        // keeps its storage alive: one undisposed .grad handle per parameter held each step's whole gradient.
        var spec = JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir(), forgetting: "  arrange: none", train: $"  gradient_precision: {precision}"));
        using var replica = new TrainingReplica(spec, CPU);
        var records = JsonlDataset.Load(spec.Data.LearnTrain, replica.Encoder, spec.SkipBadLines).Records;
        // Handles an earlier test left to the finalizer must not be freed in the middle of the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var live = new List<long>();
        for (int step = 0; step < 6; step++)
        {
            using var sums = replica.NewGradientSums();
            replica.AddLearningGradient(sums, records.Skip(step * 4).Take(4).ToList());
            var (totals, count, forgetCount) = await replica.ReduceAsync(sums, SingleProcessCollective.Instance, CancellationToken.None);
            replica.ApplyLearning(totals, count, forgetCount);
            live.Add(Tensor.TotalCount);
        }
        Assert.Equal(live[1], live[^1]);
    }

    [Fact]
    public async Task A_restarted_replica_is_a_new_one_and_its_next_step_is_a_new_ones_first()
    {
        // A trainer that starts a job afresh can find replicas an earlier activation moved on: restarted, they must
        // be indistinguishable from replicas made now (weights, optimiser moments, step count), or the fresh run's
        // first step is their second (its learning rate, its moments).
        var spec = JobSpec.Load(JobFiles.Write(TestPaths.NewTempDir(), forgetting: "  arrange: none"));
        using var moved = new TrainingReplica(spec, CPU);
        var records = JsonlDataset.Load(spec.Data.LearnTrain, moved.Encoder, spec.SkipBadLines).Records;
        async Task Step(TrainingReplica replica, int step)
        {
            using var sums = replica.NewGradientSums();
            replica.AddLearningGradient(sums, records.Skip(step * 4).Take(4).ToList());
            var (totals, count, forgetCount) = await replica.ReduceAsync(sums, SingleProcessCollective.Instance, CancellationToken.None);
            replica.ApplyLearning(totals, count, forgetCount);
        }
        await Step(moved, 0);
        await Step(moved, 1);
        string start;
        using (var fresh = new TrainingReplica(spec, CPU))
        {
            start = fresh.WeightsHash();
            Assert.NotEqual(start, moved.WeightsHash());
            moved.Restart();
            Assert.Equal((0, false), moved.Position);
            Assert.Equal(start, moved.WeightsHash());
            await Step(fresh, 0);
            await Step(moved, 0);
            await Step(fresh, 1);
            await Step(moved, 1);
            Assert.Equal(2, moved.LearningSteps);
            Assert.Equal(fresh.WeightsHash(), moved.WeightsHash());
        }
    }
}
