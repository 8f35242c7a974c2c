using System.Security.Cryptography;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Jobs;

namespace Lwf.Cli;

/// <summary>
/// `lwf submit`'s upload: the job file and every file it names (the model folder's files, the datasets), each
/// inside the folder they are sent from, sent in chunks with their SHA-256 to the job's <see cref="IJobUploadGrain"/>.
/// The job is checked here first (keys, values, paths), so a mistake is told before a byte leaves the machine.
/// </summary>
internal static class JobUpload
{
    public const int ChunkBytes = 4 << 20;

    public sealed record Files(UploadManifest Manifest, string[] LocalPaths, string WorkingDirectory)
    {
        public long Bytes => Manifest.Files.Sum(f => f.Bytes);
    }

    /// <param name="workingDirectory">The folder uploaded from (--working-dir); null: the smallest folder that holds the job file and every file it names.</param>
    /// <summary>
    /// The deepest folder that holds the job file and every path it names (relative to the job file, as an uploaded job
    /// names them): a job under cluster/jobs/ that names ../../examples/... uploads from the repository's root.
    /// </summary>
    public static string SmallestFolderHolding(string jobFile)
    {
        var spec = JobSpec.Load(jobFile);
        var paths = new[] { Path.GetFullPath(jobFile), spec.Model }.Concat(spec.Data.Named().Where(d => d.Path is not null).Select(d => d.Path!))
            .Select(p => Path.GetFullPath(p)).ToList();
        string common = Path.GetDirectoryName(paths[0])!;
        foreach (var p in paths.Skip(1))
            while (!DataRoot.HoldsLexically(common, p)) common = Path.GetDirectoryName(common) ?? Path.GetPathRoot(common)!;
        return common;
    }

    public static Files Collect(string jobFile, string? workingDirectory)
    {
        string root = Path.GetFullPath(workingDirectory ?? SmallestFolderHolding(jobFile));
        if (!Directory.Exists(root)) throw new LwfInputException($"--working-dir {workingDirectory}: no such folder");
        var written = new List<(string Key, string Text)>();
        JobSpec spec;
        try
        {
            spec = new DataRoot(root, "the folder it is uploaded from (--working-dir)").Load(jobFile, written);
        }
        catch (LwfInputException e) when (workingDirectory is not null && e.Message.Contains(" is outside the folder it is uploaded from", StringComparison.Ordinal))
        {
            string? holding = null;
            try { holding = SmallestFolderHolding(jobFile); } catch (LwfInputException) { } // a file it names is missing too: that error comes next
            throw holding is null ? e : new LwfInputException($"{e.Message}; --working-dir {holding} holds every file the job names (or leave --working-dir out)");
        }
        foreach (var (key, text) in written)
            if (Path.IsPathRooted(text))
                throw new LwfInputException($"{jobFile}: '{key}' is the absolute path {text}; an uploaded job names its files relative to the job file " +
                    "(or submit with --on-cluster a job whose files are on the cluster's data volume)");
        var paths = new List<string> { spec.SourcePath };
        // Only what the silos will read of the model folder (a hub folder also holds PyTorch, TF and Flax copies).
        if (Directory.Exists(spec.Model))
        {
            Lwf.Core.Checkpoints.PretrainedModel.RequireWeights(spec.Model); // told here, before anything is uploaded
            paths.AddRange(Lwf.Core.Checkpoints.PretrainedModel.FilesRead(spec.Model));
        }
        paths.AddRange(spec.Data.Named().Where(d => d.Path is not null).Select(d => d.Path!));
        paths = paths.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).ToList();
        var files = paths.Select(p => new UploadFile(Path.GetRelativePath(root, p).Replace(Path.DirectorySeparatorChar, '/'), new FileInfo(p).Length)).ToArray();
        return new(new UploadManifest(files[0].Path, files), paths.ToArray(), root);
    }

    /// <summary>
    /// Sends the files; returns the job file's path on the cluster and the upload's token (to discard it if the job is
    /// refused). A refused or broken upload leaves nothing there.
    /// </summary>
    public static async Task<(string JobFile, string Token)> SendAsync(IGrainFactory grains, string jobId, Files files)
    {
        var upload = grains.GetGrain<IJobUploadGrain>(jobId);
        string token = await upload.Begin(files.Manifest);
        try
        {
            var hashes = new string[files.LocalPaths.Length];
            var buffer = new byte[ChunkBytes];
            for (int i = 0; i < files.LocalPaths.Length; i++)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                await using var stream = File.OpenRead(files.LocalPaths[i]);
                long offset = 0, declared = files.Manifest.Files[i].Bytes;
                int read;
                while (offset < declared && (read = await stream.ReadAsync(buffer.AsMemory(0, (int)Math.Min(ChunkBytes, declared - offset)))) > 0)
                {
                    var chunk = buffer[..read];
                    hash.AppendData(chunk);
                    await upload.Write(token, i, offset, chunk);
                    offset += read;
                }
                if (offset != declared) throw new LwfInputException($"{files.LocalPaths[i]} changed while it was uploaded ({offset:N0} of {declared:N0} bytes)");
                hashes[i] = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            return (await upload.Complete(token, hashes), token);
        }
        catch
        {
            try { await upload.Discard(token); } catch (Exception) { } // the first error is the one to tell
            throw;
        }
    }

    /// <summary>A message about the uploaded copy, told with the user's own paths.</summary>
    public static string Local(string message, Files files, string clusterJobFile)
    {
        string clusterRoot = clusterJobFile[..^files.Manifest.JobFile.Length].TrimEnd('/');
        return message.Replace(clusterRoot + "/", files.WorkingDirectory.TrimEnd('/') + "/", StringComparison.Ordinal);
    }
}
