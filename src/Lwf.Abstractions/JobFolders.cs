namespace Lwf.Abstractions;

/// <summary>
/// A cluster job's folder on the checkpoint volume, {checkpoints}/{job id}/: its checkpoints and job.log at the top,
/// live/ (the state of the step in flight, for a resumed trainer), work/ (the replicas' scratch) and results/ (the
/// model, report and plots that `lwf results` fetches).
/// </summary>
public sealed record JobFolders(string Root)
{
    public static JobFolders Of(string checkpointDirectory, string jobId) => new(Path.Combine(checkpointDirectory, jobId));

    public string Live => Path.Combine(Root, "live");

    public string Work => Path.Combine(Root, "work");

    public string Results => Path.Combine(Root, "results");

    public string Log => Path.Combine(Root, "job.log");
}
