using Lwf.Core.Jobs;
using Lwf.Core.Data;
using Lwf.Core.Collectives;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Models;
using Lwf.Core.Training;

namespace Lwf.Core.Replicas;

/// <summary>`lwf train`: one replica in this process, holding every record, with the world-size-1 collective.</summary>
public sealed class LocalReplicaGroup(JobSpec spec, Action<JobStage, long, long>? progress = null) : IReplicaGroup
{
    private TrainingReplica? _replica;
    private IReadOnlyList<TokenizedRecord> _records = [];
    private List<SelfGeneratedSample> _samples = [];

    private TrainingReplica Replica => _replica ?? throw new InvalidOperationException("the replica is not prepared");

    public Task<ReplicaGroupInfo> PrepareAsync(ResumePoint? resume, CancellationToken cancellation)
    {
        _replica = new TrainingReplica(spec, Devices.Resolve(spec.Device), resume);
        _records = JsonlDataset.Load(spec.Data.LearnTrain, _replica.Encoder, spec.SkipBadLines).Records;
        return Task.FromResult(new ReplicaGroupInfo(_records.Count, _replica.Model.ParameterCount));
    }

    /// <summary>One process keeps no replica between runs.</summary>
    public Task<ReplicaGroupInfo> PrepareFromReplicasAsync(int learningSteps, bool hasFisher, CancellationToken cancellation) =>
        throw new InvalidOperationException("a replica in one process does not outlive its run");

    public Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation)
    {
        var prompts = SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, Replica.Encoder, spec.SkipBadLines);
        var generated = Replica.SelfGenerate(prompts,
            n => progress?.Invoke(JobStage.SelfGeneration, n, (long)prompts.Count * spec.SelfGen.SamplesPerPrompt));
        _samples = generated;
        return Task.FromResult<IReadOnlyList<SelfGeneratedSample>>(generated);
    }

    public Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation)
    {
        _samples = samples.ToList();
        return Task.CompletedTask;
    }

    public async Task<(double Mean, double Max)> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation)
    {
        using var sums = Replica.NewFisherSums();
        Replica.AddFisher(sums, recordIndices.Select(i => (i, _records[i])), n => progress?.Invoke(JobStage.Fisher, n, recordIndices.Count));
        return await Replica.ReduceFisherAsync(sums, SingleProcessCollective.Instance, cancellation);
    }

    public Task<double[]> ScoreAsync(CancellationToken cancellation) =>
        Task.FromResult(Replica.Score(Enumerable.Range(0, _samples.Count).ToArray(), _samples.Select(s => s.ToRecord()).ToList(),
            n => progress?.Invoke(JobStage.Confidence, n, _samples.Count)));

    public async Task<StepResult> LearningStepAsync(IReadOnlyList<int> recordIndices, IReadOnlyList<int> sampleIndices, CancellationToken cancellation)
    {
        using var sums = Replica.NewGradientSums();
        Replica.AddLearningGradient(sums, recordIndices.Select(i => _records[i]).ToList());
        if (sampleIndices.Count > 0) Replica.AddForgettingGradient(sums, sampleIndices.Select(i => _samples[i].ToForgettingRecord()).ToList());
        var (totals, records, forgetRecords) = await Replica.ReduceAsync(sums, SingleProcessCollective.Instance, cancellation);
        return Replica.ApplyLearning(totals, records, forgetRecords);
    }

    public Task<IReadOnlyList<EvalResult>> EvaluateAsync(CancellationToken cancellation) =>
        Task.FromResult<IReadOnlyList<EvalResult>>(Enumerable.Range(0, Replica.EvalSets.Count).Select(Replica.Evaluate).ToList());

    public Task SaveStateAsync(string directory, CancellationToken cancellation)
    {
        Replica.SaveState(directory);
        return Task.CompletedTask;
    }

    public Task SaveModelAsync(string directory, CancellationToken cancellation)
    {
        Replica.SaveModel(directory);
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        _replica?.Dispose();
        _replica = null;
        return ValueTask.CompletedTask;
    }
}
