using Lwf.Core.IO;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lwf.Core.Checkpoints;

/// <summary>
/// A job's checkpoints, <c>DIR/checkpoint-STEP/</c> as the Hugging Face Trainer names them. A checkpoint is
/// written into a hidden staging folder, every file flushed to disk, its manifest (sizes and SHA-256 of every
/// file) written last, and the folder renamed into place: a crash leaves the previous checkpoints and a
/// staging folder that the next writer removes, never a half-written checkpoint. Loading checks every
/// checksum and falls back to the newest checkpoint that passes.
/// </summary>
public sealed class CheckpointStore(string directory, int keep = 2)
{
    public const string ManifestFile = "manifest.json";
    public const string Prefix = "checkpoint-";
    private const string StagingPrefix = ".staging-";

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string Directory { get; } = Path.GetFullPath(directory);

    /// <summary>Checkpoints kept on disk (older ones are deleted once a newer one is whole); at least 1.</summary>
    public int Keep { get; } = keep >= 1 ? keep : throw new LwfInputException($"train.save_total_limit must be at least 1, got {keep}");

    /// <summary>The steps of the checkpoint folders present (whole or not), newest first.</summary>
    public IReadOnlyList<int> Steps()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        return System.IO.Directory.EnumerateDirectories(Directory, Prefix + "*")
            .Select(d => int.TryParse(Path.GetFileName(d)[Prefix.Length..], out int s) ? s : -1)
            .Where(s => s >= 0).OrderDescending().ToList();
    }

    public string PathOf(int step) => Path.Combine(Directory, $"{Prefix}{step}");

    /// <summary>
    /// Writes checkpoint <paramref name="step"/>: <paramref name="writeFiles"/> fills the staging folder;
    /// then checksums, manifest, rename, and the pruning of checkpoints beyond <see cref="Keep"/>.
    /// </summary>
    public Checkpoint Save(int step, string job, string jobFingerprint, Action<string> writeFiles)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string target = PathOf(step);
        if (System.IO.Directory.Exists(target) && !IsOurs(target)) throw NotOurs([target]);
        RemoveStaging();
        string staging = Path.Combine(Directory, $"{StagingPrefix}{step}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(staging);
        try
        {
            writeFiles(staging);
            var files = System.IO.Directory.EnumerateFiles(staging, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(staging, f).Replace('\\', '/'))
                .Where(f => !Path.GetFileName(f).StartsWith('.'))
                .Order(StringComparer.Ordinal)
                .Select(f => Describe(staging, f)).ToList();
            var manifest = new CheckpointManifest(1, step, job, jobFingerprint, DateTimeOffset.UtcNow, files);
            AtomicFile.WriteText(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(manifest, Json));
            if (System.IO.Directory.Exists(target)) System.IO.Directory.Delete(target, recursive: true);
            System.IO.Directory.Move(staging, target);
            Prune();
            return new Checkpoint(target, manifest);
        }
        catch
        {
            if (System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// The newest checkpoint whose manifest and checksums hold; the ones passed over are named in
    /// <paramref name="rejected"/> with the reason. A checkpoint of another job file is an error, not a skip.
    /// </summary>
    public Checkpoint? Latest(string jobFingerprint, List<string>? rejected = null)
    {
        foreach (int step in Steps())
        {
            string dir = PathOf(step);
            string? problem = Verify(dir, out var manifest);
            if (problem is not null)
            {
                rejected?.Add($"{dir}: {problem}");
                continue;
            }
            if (manifest!.JobFingerprint != jobFingerprint)
                throw new LwfInputException($"{dir} was written by another job file (fingerprint {manifest.JobFingerprint}, this job's {jobFingerprint}); " +
                    "resume with the job file that wrote it, or start in a new output folder");
            return new Checkpoint(dir, manifest);
        }
        return null;
    }

    /// <summary>Null when the folder is a whole checkpoint, else what is wrong with it.</summary>
    public static string? Verify(string dir, out CheckpointManifest? manifest)
    {
        manifest = null;
        string path = Path.Combine(dir, ManifestFile);
        if (!File.Exists(path)) return "no manifest.json (the checkpoint was never finished)";
        try
        {
            manifest = JsonSerializer.Deserialize<CheckpointManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            return $"manifest.json is not valid: {e.Message}";
        }
        if (manifest is null || manifest.Files is null) return "manifest.json is empty";
        foreach (var file in manifest.Files)
        {
            string full = Path.GetFullPath(Path.Combine(dir, file.Path));
            if (!full.StartsWith(Path.GetFullPath(dir) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                return $"the manifest names {file.Path}, outside the checkpoint";
            if (!File.Exists(full)) return $"{file.Path} is missing";
            long length = new FileInfo(full).Length;
            if (length != file.Bytes) return $"{file.Path} has {length} bytes, the manifest says {file.Bytes}";
            string sha = Sha256(full);
            if (sha != file.Sha256) return $"{file.Path} has SHA-256 {sha}, the manifest says {file.Sha256}";
        }
        return null;
    }

    /// <summary>
    /// Deletes every checkpoint and staging folder (a fresh run in a used output folder). Only those: the folder is
    /// the run's output folder, and whatever else the user keeps there is not ours to delete.
    /// </summary>
    public void Clear()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        // A checkpoint-N folder of another tool (the Trainer's own) would be deleted here or overwritten by a save
        // of step N: refused before anything is removed.
        var folders = Steps().Select(PathOf).ToList();
        var foreign = folders.Where(d => !IsOurs(d)).ToList();
        if (foreign.Count > 0) throw NotOurs(foreign);
        foreach (string folder in folders) System.IO.Directory.Delete(folder, recursive: true);
        RemoveStaging();
    }

    /// <summary>Only this store's checkpoints count towards <see cref="Keep"/> and are deleted; another tool's stay.</summary>
    private void Prune()
    {
        foreach (int step in Steps().Where(s => IsOurs(PathOf(s))).Skip(Keep)) System.IO.Directory.Delete(PathOf(step), recursive: true);
    }

    /// <summary>
    /// Whether a checkpoint-N folder was written by lwf: it has the manifest, or (a checkpoint whose manifest was lost)
    /// the job state file, which no other tool writes.
    /// </summary>
    private static bool IsOurs(string dir) =>
        File.Exists(Path.Combine(dir, ManifestFile)) || File.Exists(Path.Combine(dir, Jobs.JobCheckpointState.StateFile));

    private static LwfInputException NotOurs(IReadOnlyList<string> dirs) =>
        new($"{string.Join(", ", dirs)}: not a checkpoint lwf wrote (no {ManifestFile}, no {Jobs.JobCheckpointState.StateFile}), and lwf would delete or " +
            "overwrite it: move it elsewhere or choose another output folder (nothing was removed)");

    private void RemoveStaging()
    {
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Directory, StagingPrefix + "*"))
            try { System.IO.Directory.Delete(dir, recursive: true); } catch (IOException) { }
    }

    private static CheckpointFile Describe(string root, string relative)
    {
        string full = Path.Combine(root, relative);
        using (var stream = new FileStream(full, FileMode.Open, FileAccess.ReadWrite)) stream.Flush(flushToDisk: true);
        return new CheckpointFile(relative, new FileInfo(full).Length, Sha256(full));
    }

    public static string Sha256(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
