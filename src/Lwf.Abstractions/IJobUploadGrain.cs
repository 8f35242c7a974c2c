namespace Lwf.Abstractions;

/// <summary>
/// A job's files sent from the client (`lwf submit` from anywhere): the job file and the model and data it names,
/// written into the job's folder on the checkpoint volume, where every silo reads them. Keyed by job id; the client
/// then submits the path <see cref="Complete"/> returns. <see cref="Begin"/> hands out a token that every later call
/// must show: one upload per id at a time, held for its client until the job is submitted (or the upload lies idle
/// for <c>JobUploadGrain.IdleHold</c>), so no other client can replace, drop or swap the files under a job. Mistakes
/// (a path out of the folder, an upload over the cluster's cap, a checksum that differs) are refused with a message,
/// and nothing of the upload is kept.
/// </summary>
[ClientApi]
public interface IJobUploadGrain : IGrainWithStringKey
{
    /// <summary>
    /// Starts an upload and returns its token; refused when the id names a submitted job or another client's upload
    /// holds it.
    /// </summary>
    ValueTask<string> Begin(UploadManifest manifest);

    /// <summary>The next bytes of file <paramref name="file"/> (its index in the manifest), in order.</summary>
    ValueTask Write(string token, int file, long offset, byte[] bytes);

    /// <summary>Checks every file against its SHA-256 (hex, in manifest order) and returns the job file's path on the cluster.</summary>
    ValueTask<string> Complete(string token, string[] sha256);

    /// <summary>Drops the upload of this token (a job refused at submit leaves nothing behind); another token's is left alone.</summary>
    ValueTask Discard(string token);
}
