namespace Lwf.Abstractions;

/// <summary>
/// The job's collective, under the trainer: it forms the ring of the silos that hold the job's shards (ranks in a
/// fixed order, an epoch per formation), tells each silo's lead shard which operation to run over which ring, and
/// re-forms the ring when a member fails. The tensors never pass through it. Keyed by job id.
/// </summary>
public interface ICoordinatorGrain : IGrainWithStringKey
{
    ValueTask<PreparedJob> Prepare(JobSetup setup);

    ValueTask<SampleInfo[]> SelfGenerate();

    /// <summary>F and gL over these learning records, reduced over the ring and kept by every replica.</summary>
    ValueTask<FisherSummary> Fisher(int[] recordIndices);

    ValueTask<ShardScores> Score();

    /// <summary>
    /// One learning step on every replica over these learning records and these samples as forgetting records (one loss
    /// mean, one optimiser); with <paramref name="checkReplicas"/>, the replicas' weight hashes are compared after it.
    /// </summary>
    ValueTask<StepOutcome> LearningStep(int[] recordIndices, int[] sampleIndices, bool checkReplicas);

    ValueTask<EvalOutcome[]> Evaluate();

    /// <summary>Rank 0's replica writes its state (model/, optimisers, F) into the folder (a checkpoint's staging folder).</summary>
    ValueTask SaveState(string directory);

    /// <summary>Rank 0's replica writes the model into the folder.</summary>
    ValueTask SaveModel(string directory);


    /// <summary>The job ended: the shards let go of their data and replicas.</summary>
    ValueTask Finish();
}
