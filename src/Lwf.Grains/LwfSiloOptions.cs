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

    /// <summary>Job files and every path they name must lie under this folder; empty = anywhere.</summary>
    public string DataRoot { get; set; } = "";

    /// <summary>
    /// The TCP port this silo serves tensor chunks on (the data plane); 0: none, chunks travel as grain calls.
    /// `lwf cluster up` and the Helm chart set it.
    /// </summary>
    [Range(0, 65535)]
    public int DataPlanePort { get; set; }

    /// <summary>The host other silos reach this silo's data-plane port at (default: the silo's advertised address).</summary>
    public string? DataPlaneHost { get; set; }

    /// <summary>How often each silo looks for unfinished jobs whose trainer must be re-activated (0 = never).</summary>
    [Range(0, 3600)]
    public int ResumeCheckSeconds { get; set; } = 5;

    /// <summary>Shards per job (spread over the silos); 0 = two per silo.</summary>
    [Range(0, 4096)]
    public int ShardsPerJob { get; set; }
}
