using Orleans.Concurrency;

namespace Lwf.Abstractions;

/// <summary>
/// One shard of a job's data ("job/index"): its learning records, forgetting prompts and self-generated samples.
/// It computes on its silo's replica of the job's model; the lowest-numbered shard of each silo leads that silo's
/// part of a collective operation.
/// </summary>
public interface IShardGrain : IGrainWithStringKey
{
    ValueTask<ShardInfo> Prepare(ShardSetup setup);

    ValueTask<SampleInfo[]> SelfGenerate();

    ValueTask<ShardScores> Score();

    /// <summary>
    /// Adds this shard's part of the operation (its records among <paramref name="indices"/>, then its samples among
    /// <paramref name="sampleIndices"/> as forgetting records) into its silo replica's pending sums.
    /// </summary>
    ValueTask<int> Accumulate(string operationId, WorkKind kind, int[] indices, int[] sampleIndices);

    /// <summary>As the silo's lead shard: runs the silo's shards in order, then the ring all-reduce; applies nothing yet.</summary>
    ValueTask<ReducedTotals> Reduce(SiloWork work);

    /// <summary>As the silo's lead shard: applies the reduced step on the silo's replica.</summary>
    ValueTask<StepOutcome> Apply(string operationId);

    /// <summary>A hash of the silo replica's weights (replicas that stayed equal give the same).</summary>
    ValueTask<string> WeightsHash();

    /// <summary>Stops the silo's part of an operation (a peer failed): its collective ends at once.</summary>
    [AlwaysInterleave]
    ValueTask Abort(string operationId);

    /// <summary>As the silo's lead shard: the evaluation sets whose index ≡ rank (mod world size).</summary>
    ValueTask<EvalOutcome[]> Evaluate(int rank, int worldSize);

    ValueTask<ReplicaPosition> Position();

    /// <summary>Writes the silo replica's whole state (model/, optimisers, F) into the folder.</summary>
    ValueTask SaveState(string directory, bool modelOnly);

    /// <summary>A replica behind its peers takes over the state a peer wrote with <see cref="SaveState"/>.</summary>
    ValueTask LoadState(string directory, ReplicaPosition position);

    /// <summary>The silo replica goes back to the job's start (the base model, step 0): the job starts afresh on replicas an earlier activation moved on.</summary>
    ValueTask Restart();

    /// <summary>The job ended: the shard lets go of its data and its silo's replica, and deactivates.</summary>
    ValueTask Finish();
}
