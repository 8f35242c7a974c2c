using Lwf.Core.Forgetting;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// Where the pipeline's per-record work is done: in this process (<see cref="LocalWorkers"/>) or spread over
/// a cluster's shards. Records and samples are named by global index; every sum comes back reduced.
/// Gradients are left, summed, in the trainer model's <c>.grad</c> for the optimiser step to normalise.
/// </summary>
public interface IPipelineWorkers : IAsyncDisposable
{
    /// <summary>Loads the data where it will be used; returns the number of learning records.</summary>
    Task<int> PrepareAsync(CancellationToken cancellation);

    /// <summary>The base model answers every forgetting prompt; the samples in global order.</summary>
    Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation);

    /// <summary>A resumed job: the samples self-generated before the checkpoint, where the workers need them.</summary>
    Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation);

    /// <summary>Σ g⊙g, Σ g and the count over the given learning records, on the trainer model's device.</summary>
    Task<FisherAccumulator> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation);

    /// <summary>Every sample's score, in global order.</summary>
    Task<double[]> ScoreAsync(FisherEstimate? fisher, CancellationToken cancellation);

    /// <summary>Zeroes .grad, then leaves Σ∇(Σ token NLL) over the records in it; returns ΣNLL and the token counts.</summary>
    Task<GradientTotals> LearningGradientAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation);

    /// <summary>Zeroes .grad, then leaves ∇ of the forgetting loss's numerator over the samples in it.</summary>
    Task<GradientTotals> ForgettingGradientAsync(IReadOnlyList<int> sampleIndices, ForgettingLossKind kind, CancellationToken cancellation);

    /// <summary>The trainer changed the weights (an optimiser step): workers must use the new ones.</summary>
    void WeightsChanged();
}
