namespace Lwf.Abstractions;

/// <summary>
/// The job's authority (a parameter server): weights and optimizer state, the learning / forgetting loop,
/// checkpoints, and the job's state machine. Keyed by job id.
/// </summary>
public interface ITrainerGrain : IGrainWithStringKey
{
    /// <summary>Validates and starts the job; a second submit of the same id returns its status and starts nothing.</summary>
    ValueTask<JobStatus> Submit(JobRequest request);

    ValueTask<JobStatus> GetStatus();

    /// <summary>Stops within one step, keeping the last checkpoint.</summary>
    ValueTask<JobStatus> Cancel();

    /// <summary>The weights at a version (the current one when the version is 0 or older).</summary>
    ValueTask<TensorManifest> GetWeights(long version);

    ValueTask<byte[]> GetWeightChunk(long version, int chunk);

    /// <summary>F and gL, once computed: used by shards to score.</summary>
    ValueTask<TensorManifest> GetFisher(long fisherVersion);

    ValueTask<byte[]> GetFisherChunk(long fisherVersion, int chunk);

    ValueTask<ResultFile[]> ListResults();

    ValueTask<byte[]> GetResultChunk(string relativePath, long offset, int length);
}

/// <summary>Runs a plan over every shard and reduces the silos' sums in a fixed order. Keyed by job id.</summary>
public interface ICoordinatorGrain : IGrainWithStringKey
{
    ValueTask<ShardInfo[]> Prepare(string jobFile, int shardCount, string workDirectory);

    ValueTask<SampleInfo[]> SelfGenerate(long modelVersion);

    ValueTask<TensorManifest> Reduce(WorkPlan plan);

    ValueTask<byte[]> GetReducedChunk(string operationId, int chunk);

    ValueTask<ShardScores> Score(long modelVersion, long fisherVersion);

    ValueTask<IReadOnlyDictionary<string, int>> ShardsPerSilo();
}

/// <summary>One shard of a job's data: its learning records, forgetting prompts and self-generated samples. Keyed "job/index".</summary>
public interface IShardGrain : IGrainWithStringKey
{
    ValueTask<ShardInfo> Prepare(ShardSetup setup);

    ValueTask<SampleInfo[]> SelfGenerate(long modelVersion);

    /// <summary>Computes the plan's indices this shard owns and deposits the sums on this silo.</summary>
    ValueTask<Deposit> Work(WorkPlan plan);

    /// <summary>On a shard of each silo: sums the deposits of the listed shards (in index order) for export.</summary>
    ValueTask<TensorManifest> ExportSiloSum(string operationId, int[] shardIndices);

    ValueTask<byte[]> GetSiloSumChunk(string operationId, int chunk);

    ValueTask<ShardScores> Score(long modelVersion, long fisherVersion);

    /// <summary>The job ended: the shard lets go of its data and its silo's replica, and deactivates.</summary>
    ValueTask Finish();
}

/// <summary>The cluster's list of jobs (key 0), for `lwf status` without an id.</summary>
public interface IJobDirectoryGrain : IGrainWithIntegerKey
{
    ValueTask<string[]> List();
}

/// <summary>`lwf bench transport`: moves packed tensors between two silos ("bench/0", "bench/1": one per silo).</summary>
public interface ITransportBenchGrain : IGrainWithStringKey
{
    /// <summary>Makes a float32 model of about this many bytes (and its float64 gradient sums); returns the silo.</summary>
    ValueTask<string> Prepare(long bytes, int chunkBytes);

    ValueTask<TensorManifest> Weights();

    ValueTask<byte[]> WeightChunk(int chunk);

    ValueTask<TensorManifest> GradientSums();

    ValueTask<byte[]> GradientChunk(int chunk);

    /// <summary>Pulls the other grain's weights as a replica does (over the data plane, or as grain calls); returns (bytes, seconds).</summary>
    ValueTask<double[]> PullWeightsFrom(string other, bool grainCalls);

    /// <summary>Fetches the other grain's float64 sums and adds them to its own, as a reduction does; returns (bytes, seconds).</summary>
    ValueTask<double[]> ReduceFrom(string other, bool grainCalls);
}
