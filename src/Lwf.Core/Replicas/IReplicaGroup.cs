using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Training;

namespace Lwf.Core.Replicas;

/// <summary>
/// The job's replicas as the runner (the schedule) sees them: one in this process (<see cref="LocalReplicaGroup"/>),
/// or one per silo of a cluster. The runner holds no model: it names records and samples by global index and
/// asks for steps; every replica takes each step, so they stay equal.
/// </summary>
public interface IReplicaGroup : IAsyncDisposable
{
    /// <summary>Replicas load the base model (or <paramref name="resume"/>'s state) and the data; returns the record count and model size.</summary>
    Task<ReplicaGroupInfo> PrepareAsync(ResumePoint? resume, CancellationToken cancellation);

    /// <summary>
    /// Replicas that outlived the runner (its silo died) go on from the state they hold, which must be at these step
    /// counts; fails when no replica is (the runner then prepares from a checkpoint instead).
    /// </summary>
    Task<ReplicaGroupInfo> PrepareFromReplicasAsync(int learningSteps, bool hasFisher, CancellationToken cancellation);

    /// <summary>The base model answers every forgetting prompt; the samples in global order.</summary>
    Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation);

    /// <summary>A resumed job: the samples self-generated before the checkpoint, where the replicas need them.</summary>
    Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation);

    /// <summary>F and gL over the given learning records, held by every replica from now on; returns F's mean and largest entry.</summary>
    Task<(double Mean, double Max)> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation);

    /// <summary>Every sample's score, in global order (with the replicas' F where the scorer uses it).</summary>
    Task<double[]> ScoreAsync(CancellationToken cancellation);

    /// <summary>
    /// One optimiser step on every replica over these learning records (the global batch) and these self-generated
    /// samples as forgetting records (global sample indices; empty for vanilla), in one loss mean.
    /// </summary>
    Task<StepResult> LearningStepAsync(IReadOnlyList<int> recordIndices, IReadOnlyList<int> sampleIndices, CancellationToken cancellation);

    /// <summary>Every evaluation set of the job, in order (learn, forget, held-out), spread over the replicas.</summary>
    Task<IReadOnlyList<EvalResult>> EvaluateAsync(CancellationToken cancellation);

    /// <summary>One replica writes the state a checkpoint holds (model/, optimiser, F) into <paramref name="directory"/>.</summary>
    Task SaveStateAsync(string directory, CancellationToken cancellation);

    /// <summary>One replica writes the model (Hugging Face format, tokenizer files beside) into <paramref name="directory"/>.</summary>
    Task SaveModelAsync(string directory, CancellationToken cancellation);
}
