using System.Security.Cryptography;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Security;
using Microsoft.Extensions.Options;

namespace Lwf.Grains.Jobs;

/// <summary>
/// Receives a job's files into a staging folder beside the job's record on the checkpoint volume, and on
/// <see cref="Complete"/> checks every size and SHA-256 and renames the folder to <c>{job}/inputs</c>, where the job's
/// trainer and shards read them (confined to it: <see cref="LwfSiloOptions.LoadJob"/>). Every path is the client's
/// and is refused unless it is a plain relative path; the total is capped by <see cref="LwfSiloOptions.MaxUploadBytes"/>.
/// One upload per job id at a time: <see cref="Begin"/> gives its client a token, and the id stays that client's until
/// the job is submitted or the upload lies idle for <see cref="IdleHold"/>; a call with another token changes nothing.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed class JobUploadGrain(IOptions<LwfSiloOptions> options) : Grain, IJobUploadGrain
{
    public const string InputsFolderName = "inputs";
    public const int MaxFiles = 1000;
    public const int MaxChunkBytes = 8 << 20;
    private const string StagingPrefix = ".upload-";

    /// <summary>How long an upload (finished or not) keeps its job id from other clients without a call of its own.</summary>
    public static readonly TimeSpan IdleHold = TimeSpan.FromMinutes(10);

    private string? _token;
    private DateTime _lastCall;
    private UploadManifest? _manifest;
    private string? _staging;
    private long[] _received = [];
    private IncrementalHash[] _hashes = [];

    /// <summary>Where job <paramref name="jobId"/>'s uploaded files are (whether or not it was uploaded).</summary>
    public static string InputsFolder(string checkpointDirectory, string jobId) => Path.Combine(checkpointDirectory, jobId, InputsFolderName);

    /// <summary>Beside the inputs (out of a job's reach): who uploaded them, as <see cref="ClientIdentity.DnsName"/>.</summary>
    private const string UploaderFileName = "inputs.uploader";

    /// <summary>Who uploaded job <paramref name="jobId"/>'s inputs (null: nobody told apart, the cluster itself, or no upload).</summary>
    public static string? Uploader(string checkpointDirectory, string jobId)
    {
        string path = Path.Combine(checkpointDirectory, jobId, UploaderFileName);
        return File.Exists(path) && File.ReadAllText(path).Trim() is { Length: > 0 } name ? name : null;
    }

    private string JobId => this.GetPrimaryKeyString();

    private string JobFolder => Path.Combine(options.Value.CheckpointDirectory, JobId);

    private bool Submitted => File.Exists(JobFolderStorage.PathOf(options.Value.CheckpointDirectory, JobId, TrainerGrain.StateName));

    private LwfInputException Taken() => new($"job id '{JobId}' is taken by a submitted job; submit under another --id");

    public ValueTask<string> Begin(UploadManifest manifest)
    {
        if (!JobIds.IsValid(JobId)) throw new LwfInputException($"job id '{JobId}' is not valid: {JobIds.Rule}");
        if (Submitted) throw Taken();
        if (_token is not null && DateTime.UtcNow - _lastCall < IdleHold)
            throw new LwfInputException($"job id '{JobId}' is held by another upload (under way, or uploaded and about to be submitted); submit under another --id");
        var files = manifest.Files ?? [];
        if (files.Length is 0 or > MaxFiles) throw new LwfInputException($"an upload holds 1..{MaxFiles} files, this one {files.Length}");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            if (!IsPlainRelative(file.Path))
                throw new LwfInputException($"'{file.Path}' is not a path inside the job's folder (relative, '/'-separated, no '.' or '..' parts)");
            if (!seen.Add(file.Path)) throw new LwfInputException($"'{file.Path}' is in the upload twice");
            if (file.Bytes < 0) throw new LwfInputException($"'{file.Path}': a size of {file.Bytes} bytes");
        }
        if (!seen.Contains(manifest.JobFile)) throw new LwfInputException($"the job file '{manifest.JobFile}' is not among the uploaded files");
        long total = files.Sum(f => f.Bytes), cap = options.Value.MaxUploadBytes;
        if (total > cap)
            throw new LwfInputException($"the upload is {total:N0} bytes ({files.Length} files); this cluster takes at most {cap:N0} " +
                "(Lwf__MaxUploadBytes); put a model that big on the cluster's data volume and submit with --on-cluster");

        Clear();
        _token = Guid.NewGuid().ToString("N");
        _lastCall = DateTime.UtcNow;
        DelayDeactivation(IdleHold);
        _manifest = manifest with { Files = files };
        _staging = Path.Combine(JobFolder, $"{StagingPrefix}{Guid.NewGuid():N}");
        Directory.CreateDirectory(_staging);
        foreach (var file in files)
        {
            string path = Target(file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.Create(path).Dispose();
        }
        _received = new long[files.Length];
        _hashes = files.Select(_ => IncrementalHash.CreateHash(HashAlgorithmName.SHA256)).ToArray();
        return ValueTask.FromResult(_token);
    }

    /// <summary>Refuses a call whose token is not the upload's under way.</summary>
    private (UploadManifest Manifest, string Staging) Hold(string token)
    {
        if (_token is null || !string.Equals(token, _token, StringComparison.Ordinal) || _manifest is null || _staging is null)
            throw new LwfInputException($"no upload of job '{JobId}' under way with this token (never begun, discarded, finished, or idle for more than {IdleHold.TotalMinutes:0} min): submit again");
        _lastCall = DateTime.UtcNow;
        return (_manifest, _staging);
    }

    public async ValueTask Write(string token, int file, long offset, byte[] bytes)
    {
        var (manifest, staging) = Hold(token);
        if (file < 0 || file >= manifest.Files.Length) throw new LwfInputException($"no file {file} in the upload");
        var entry = manifest.Files[file];
        if (bytes.Length > MaxChunkBytes) throw new LwfInputException($"a chunk of {bytes.Length:N0} bytes; at most {MaxChunkBytes:N0}");
        if (offset != _received[file]) throw new LwfInputException($"'{entry.Path}': bytes at {offset:N0}, expected them at {_received[file]:N0}");
        if (offset + bytes.Length > entry.Bytes)
            throw new LwfInputException($"'{entry.Path}' is larger than the {entry.Bytes:N0} bytes the upload declared");
        await using (var stream = new FileStream(Target(entry.Path), FileMode.Append, FileAccess.Write))
            await stream.WriteAsync(bytes);
        _hashes[file].AppendData(bytes);
        _received[file] += bytes.Length;
    }

    public ValueTask<string> Complete(string token, string[] sha256)
    {
        var (manifest, staging) = Hold(token);
        try
        {
            // An id submitted meanwhile (--on-cluster) is that job's: its files are not replaced under it.
            if (Submitted) throw Taken();
            if (sha256 is null || sha256.Length != manifest.Files.Length)
                throw new LwfInputException($"{sha256?.Length ?? 0} checksums for {manifest.Files.Length} files");
            for (int i = 0; i < manifest.Files.Length; i++)
            {
                var entry = manifest.Files[i];
                if (_received[i] != entry.Bytes)
                    throw new LwfInputException($"'{entry.Path}': {_received[i]:N0} of its {entry.Bytes:N0} bytes arrived");
                string actual = Convert.ToHexStringLower(_hashes[i].GetHashAndReset());
                if (!string.Equals(actual, sha256[i], StringComparison.OrdinalIgnoreCase))
                    throw new LwfInputException($"'{entry.Path}' arrived with SHA-256 {actual}, the client sent {sha256[i]}: the upload is dropped");
            }
            string inputs = InputsFolder(options.Value.CheckpointDirectory, JobId);
            if (Directory.Exists(inputs)) Directory.Delete(inputs, recursive: true);
            string uploader = Path.Combine(JobFolder, UploaderFileName);
            if (ClientIdentity.Caller is { } caller) Lwf.Core.IO.AtomicFile.WriteText(uploader, caller.DnsName + "\n");
            else File.Delete(uploader);
            Directory.Move(staging, inputs);
            string jobFile = Path.Combine(inputs, manifest.JobFile);
            Reset(); // the token still holds the id until the job is submitted or IdleHold passes
            _lastCall = DateTime.UtcNow;
            return ValueTask.FromResult(jobFile);
        }
        catch
        {
            Clear();
            throw;
        }
    }

    public ValueTask Discard(string token)
    {
        if (_token is not null && string.Equals(token, _token, StringComparison.Ordinal)) Clear();
        return ValueTask.CompletedTask;
    }

    /// <summary>Ends this upload and its hold, removes any staging folder left by an earlier one, and inputs no submitted job owns.</summary>
    private void Clear()
    {
        Reset();
        _token = null;
        if (!JobIds.IsValid(JobId) || !Directory.Exists(JobFolder)) return;
        foreach (var staging in Directory.EnumerateDirectories(JobFolder, StagingPrefix + "*"))
            Directory.Delete(staging, recursive: true);
        bool submitted = Submitted;
        string inputs = InputsFolder(options.Value.CheckpointDirectory, JobId);
        if (!submitted && Directory.Exists(inputs)) Directory.Delete(inputs, recursive: true);
        if (!submitted) File.Delete(Path.Combine(JobFolder, UploaderFileName));
        if (!submitted && !Directory.EnumerateFileSystemEntries(JobFolder).Any()) Directory.Delete(JobFolder);
    }

    private void Reset()
    {
        foreach (var hash in _hashes) hash.Dispose();
        _hashes = [];
        _received = [];
        _manifest = null;
        _staging = null;
    }

    private string Target(string relative) => Path.Combine(_staging!, relative.Replace('/', Path.DirectorySeparatorChar));

    /// <summary>A relative path of plain names: the client's, so nothing in it may lead out of the staging folder.</summary>
    private static bool IsPlainRelative(string? path) =>
        !string.IsNullOrEmpty(path) && path.Length <= 1024 && !path.Contains('\\') && !path.Contains('\0') && !path.StartsWith('/')
        && path.Split('/').All(part => part.Length is > 0 and <= 255 && part is not "." and not "..");
}
