namespace Lwf.Abstractions;

/// <summary>
/// The job's schedule and state machine: samplers, the forgetting set, when to forget, checkpoints, evaluation.
/// It holds no model: the silos' replicas do. Keyed by job id.
/// </summary>
[ClientApi]
public interface ITrainerGrain : IGrainWithStringKey
{
    /// <summary>Validates and starts the job; a second submit of the same id returns its status and starts nothing.</summary>
    ValueTask<JobStatus> Submit(JobRequest request);

    ValueTask<JobStatus> GetStatus();

    /// <summary>Stops within one step, keeping the last checkpoint.</summary>
    ValueTask<JobStatus> Cancel();

    /// <summary>
    /// A cancelled job goes on from its newest checkpoint (its start if it has none) and the answer is pending; a
    /// job in any other phase is left as it is, and the answer's message says why.
    /// </summary>
    ValueTask<JobStatus> Resume();

    ValueTask<ResultFile[]> ListResults();

    ValueTask<byte[]> GetResultChunk(string relativePath, long offset, int length);

    /// <summary>
    /// Deletes a done, failed or cancelled job's folder (checkpoints, uploaded inputs, results, log) and returns the
    /// bytes freed; a job still running is refused (cancel it first).
    /// </summary>
    ValueTask<long> Remove();

    /// <summary>The job's log from <paramref name="offset"/> (whole lines, up to about a mebibyte).</summary>
    ValueTask<JobLogChunk> GetLog(long offset);
}
