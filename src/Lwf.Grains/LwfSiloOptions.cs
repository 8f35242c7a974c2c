using System.ComponentModel.DataAnnotations;

namespace Lwf.Grains;

/// <summary>What a silo offers the jobs: its device, where checkpoints and results go, where data may come from.</summary>
public sealed class LwfSiloOptions
{
    public const string Section = "Lwf";

    /// <summary>auto, cpu, cuda or cuda:N.</summary>
    [Required]
    public string Device { get; set; } = "auto";

    /// <summary>Per job: its record (job.json), checkpoints, shard work files (self-generated samples) and results (a shared volume in a cluster).</summary>
    [Required]
    public string CheckpointDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "lwf-checkpoints");

    /// <summary>
    /// Job files and every path they name must lie under this folder, symbolic links followed. Empty: the silo
    /// process's working directory (a silo always has a root; "/" is the explicit way to allow any path).
    /// </summary>
    public string DataRoot { get; set; } = "";

    /// <summary>The data root in force: <see cref="DataRoot"/>, or the working directory when it is not set.</summary>
    public string EffectiveDataRoot => string.IsNullOrEmpty(DataRoot) ? Directory.GetCurrentDirectory() : DataRoot;

    /// <summary>
    /// Job <paramref name="jobId"/>'s job file, read only once its root holds it, and refused unless the root holds
    /// every path it names: the job's uploaded folder for a job `lwf submit` uploaded, else the data root.
    /// </summary>
    public Core.Jobs.JobSpec LoadJob(string jobFile, string jobId)
    {
        string uploaded = Jobs.JobUploadGrain.InputsFolder(CheckpointDirectory, jobId);
        var root = new Core.Jobs.DataRoot(uploaded);
        return (root.Holds(jobFile) ? root : new Core.Jobs.DataRoot(EffectiveDataRoot, except: CheckpointDirectory)).Load(jobFile);
    }

    /// <summary>
    /// The most a job's upload may hold (`lwf submit` from a machine the silos cannot read: the job file, the model and
    /// data it names), in bytes; beyond it the upload is refused before a byte is sent. The default, 4 GiB, holds a
    /// 1 B-parameter model in bfloat16 and its data; a bigger model belongs on the cluster's data volume.
    /// </summary>
    [Range(1, long.MaxValue)]
    public long MaxUploadBytes { get; set; } = 4L << 30;

    /// <summary>
    /// The TCP port of this silo's data plane (the collective's bytes between silos); 0: any free port.
    /// `lwf cluster up` and the Helm chart set it.
    /// </summary>
    [Range(0, 65535)]
    public int DataPlanePort { get; set; }

    /// <summary>The host other silos reach this silo's data-plane port at (default: the silo's advertised address).</summary>
    public string? DataPlaneHost { get; set; }

    /// <summary>
    /// Connections the data plane serves at once (a ring needs one per peer); beyond it a new connection is closed at
    /// once, so that a flood of sockets cannot exhaust the silo's file descriptors.
    /// </summary>
    [Range(1, 65536)]
    public int DataPlaneMaxConnections { get; set; } = 256;

    /// <summary>
    /// Seconds a data-plane connection may take to send its first frame, and any frame once begun, before it is
    /// closed (a connection that holds a half frame, or never sends one, holds nothing for long).
    /// </summary>
    [Range(1, 3600)]
    public int DataPlaneReadTimeoutSeconds { get; set; } = 30;

    /// <summary>How long a ring member waits for its neighbour's bytes before the collective fails (and the ring is re-formed).</summary>
    [Range(1, 86400)]
    public int CollectiveTimeoutSeconds { get; set; } = 300;

    /// <summary>The all-reduce's bucket size in MiB: the most tensor bytes off the device at once.</summary>
    [Range(1, 256)]
    public int BucketMiB { get; set; } = 32;

    /// <summary>
    /// Fault testing: every data-plane frame reaches its peer this much later (a slow link: a committed frame still
    /// arrives if its sender hangs or its operation is aborted meanwhile), so that a test can strike while a bucket is in
    /// flight. 0 in production.
    /// </summary>
    [Range(0, 60000)]
    public int DataPlaneSendDelayMs { get; set; }

    /// <summary>
    /// Threads of the silo's libtorch pool; 0: libtorch's own choice, one per core of the machine. Silos that share a
    /// machine's cores (`lwf cluster up` starts N silo processes on one) or a pod with a CPU limit below the node's
    /// cores set fewer: libtorch counts the machine's cores, not its share of them, and threads beyond the cores a
    /// process gets spin and wait on each other (3 silos on 2 cores ran the tiny job's kill test in 1 min 38 s with
    /// 2 threads each, 1 min 1 s with one).
    /// </summary>
    [Range(0, 1024)]
    public int TorchThreads { get; set; }

    public const string TorchThreadsKey = Section + ":" + nameof(TorchThreads);

    /// <summary>Every so many learning steps (and after the last) the replicas compare a hash of their weights; 0 = only after the last.</summary>
    [Range(0, 1000000)]
    public int ReplicaCheckEvery { get; set; } = 10;

    /// <summary>How often each silo looks for unfinished jobs whose trainer must be re-activated (0 = never).</summary>
    [Range(0, 3600)]
    public int ResumeCheckSeconds { get; set; } = 5;

    /// <summary>Shards per job (spread over the silos); 0 = two per silo.</summary>
    [Range(0, 4096)]
    public int ShardsPerJob { get; set; }
}
