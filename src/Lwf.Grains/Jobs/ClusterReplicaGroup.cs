using Lwf.Abstractions;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using Lwf.Core.Replicas;
using Lwf.Core.Training;

namespace Lwf.Grains.Jobs;

/// <summary>
/// The job's replicas on the cluster, for the trainer's schedule: every call goes to the job's coordinator, which
/// runs it over the ring of silos. The trainer holds no model; records and samples are named by global index.
/// </summary>
public sealed class ClusterReplicaGroup(IGrainFactory grains, string jobId, JobSpec spec, int shardCount, string workDirectory,
    int replicaCheckEvery, Action<JobStage, long, long> progress) : IReplicaGroup
{
    private int _stepsTaken;

    private ICoordinatorGrain Coordinator => grains.GetGrain<ICoordinatorGrain>(jobId);

    public IReadOnlyDictionary<string, int> ShardsPerSilo { get; private set; } = new Dictionary<string, int>();

    /// <summary>Set when the trainer deactivates mid-job: disposing then leaves the shards alone (the next activation prepares them again).</summary>
    public bool HandingOver { get; set; }

    /// <summary>Set when this trainer activation resumes a job whose last one's silo stopped: the job's last progress (its log's last line).</summary>
    public DateTimeOffset? StalledSince { get; init; }

    public Task<ReplicaGroupInfo> PrepareAsync(ResumePoint? resume, CancellationToken cancellation) =>
        PrepareAsync(resume is null ? null : new ResumeSetup(resume.Directory, resume.LearningSteps, resume.HasFisher));

    public Task<ReplicaGroupInfo> PrepareFromReplicasAsync(int learningSteps, bool hasFisher, CancellationToken cancellation) =>
        PrepareAsync(new ResumeSetup(null, learningSteps, hasFisher));

    private async Task<ReplicaGroupInfo> PrepareAsync(ResumeSetup? resume)
    {
        Directory.CreateDirectory(workDirectory);
        var prepared = await Coordinator.Prepare(new JobSetup(spec.SourcePath, shardCount, workDirectory, resume, resume is null ? null : StalledSince));
        ShardsPerSilo = prepared.ShardsPerSilo;
        _stepsTaken = resume?.LearningSteps ?? 0;
        return new ReplicaGroupInfo(prepared.LearningRecords, prepared.Parameters);
    }

    public async Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation)
    {
        progress(JobStage.SelfGeneration, 0, 1);
        var samples = await Coordinator.SelfGenerate();
        progress(JobStage.SelfGeneration, 1, 1);
        return samples.Select(s => new SelfGeneratedSample(s.Index, s.Source, s.PromptIds, s.ResponseIds, s.Prompt, s.Response, s.ReferenceLogLikelihood)).ToList();
    }

    /// <summary>The shards reload their samples from the job's work folder when prepared; nothing to send.</summary>
    public Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation) => Task.CompletedTask;

    public async Task<(double Mean, double Max)> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation)
    {
        progress(JobStage.Fisher, 0, recordIndices.Count);
        var summary = await Coordinator.Fisher(recordIndices.ToArray());
        progress(JobStage.Fisher, recordIndices.Count, recordIndices.Count);
        return (summary.Mean, summary.Max);
    }

    public async Task<double[]> ScoreAsync(CancellationToken cancellation)
    {
        progress(JobStage.Confidence, 0, 1);
        var scores = await Coordinator.Score();
        progress(JobStage.Confidence, 1, 1);
        return scores.Scores;
    }

    public async Task<StepResult> LearningStepAsync(IReadOnlyList<int> recordIndices, IReadOnlyList<int> sampleIndices, CancellationToken cancellation)
    {
        int step = _stepsTaken + 1;
        bool check = step == spec.Train.Steps || replicaCheckEvery > 0 && step % replicaCheckEvery == 0;
        var o = await Coordinator.LearningStep(recordIndices.ToArray(), sampleIndices.ToArray(), check);
        _stepsTaken = o.Step;
        return new StepResult(o.Step, o.Loss, o.LearningRate, o.GradNorm, o.LossTokens, o.InputTokens, o.Records, o.ForgettingLoss, o.ForgetRecords);
    }

    public async Task<IReadOnlyList<EvalResult>> EvaluateAsync(CancellationToken cancellation) =>
        (await Coordinator.Evaluate()).Select(e => new EvalResult(e.Set, e.Metric, e.Value, e.Count)).ToList();

    public async Task SaveStateAsync(string directory, CancellationToken cancellation) => await Coordinator.SaveState(directory);

    public async Task SaveModelAsync(string directory, CancellationToken cancellation) => await Coordinator.SaveModel(directory);

    public async ValueTask DisposeAsync()
    {
        if (HandingOver) return;
        try
        {
            await Coordinator.Finish().AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (Exception)
        {
            // best effort: the shards of a cluster that is going away have nothing left to free
        }
    }
}
