using System.CommandLine;
using System.Diagnostics;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Jobs;

namespace Lwf.Cli.Commands;

/// <summary>
/// `lwf soak checkpoints`: a job trained by `lwf train` child processes that are SIGKILLed at random points, half of
/// them while a checkpoint is being written, each time resumed with `--resume`. Every checkpoint a resume loads must
/// hold the same bytes as the uninterrupted run's checkpoint of that step, and every run that reaches the end the
/// same weights; a checkpoint cut short must be passed over, never loaded. Exit 1 on any difference.
/// </summary>
internal static class SoakCommand
{
    public static Command Build()
    {
        var job = new Option<string>("--job") { Description = "job file to soak (its train.save_steps sets how often a write can be cut)", DefaultValueFactory = _ => Path.Combine("cluster", "jobs", "soak-checkpoints.yaml") };
        var kills = new Option<int>("--kills") { Description = "SIGKILLs to deliver", DefaultValueFactory = _ => 100 };
        var output = new Option<string?>("--out") { Description = "work folder (default: a new temporary one, deleted when every check holds)" };
        var seed = new Option<int>("--seed") { Description = "seed of the kill times", DefaultValueFactory = _ => 1 };
        var checkpoints = new Command("checkpoints", "SIGKILL `lwf train` at random points across checkpoint writes; every resume must match an uninterrupted run byte for byte")
        {
            job, kills, output, seed,
        };
        checkpoints.SetAction(LwfCommandLine.Guard(parse =>
        {
            int n = parse.GetValue(kills);
            if (n < 0 || n > 100_000) throw new LwfInputException($"--kills must be in 0..100000, got {n}");
            string? outDir = parse.GetValue(output);
            return Soak(Path.GetFullPath(parse.GetValue(job)!), n, outDir is null ? null : Path.GetFullPath(outDir), parse.GetValue(seed));
        }));
        return new Command("soak", "Fault-injection runs that print what they found") { checkpoints };
    }

    /// <summary>A checkpoint's bytes that must not depend on interruptions: every file but the JSON ones (they carry wall times).</summary>
    /// <summary>The uninterrupted run's checkpoints, as each resume must find them.</summary>
    private sealed class CheckpointRecorder(Dictionary<int, Dictionary<string, string>> reference) : IJobObserver
    {
        public void CheckpointSaved(Checkpoint checkpoint) => reference[checkpoint.Manifest.Step] = Deterministic(checkpoint.Manifest);
    }

    private static Dictionary<string, string> Deterministic(CheckpointManifest manifest) =>
        manifest.Files.Where(f => !f.Path.EndsWith(".json", StringComparison.Ordinal)).ToDictionary(f => f.Path, f => f.Sha256);

    /// <summary>The staging folders of checkpoint writes under way (or cut short) in the store.</summary>
    private static List<string> Staging(CheckpointStore store)
    {
        try
        {
            return Directory.Exists(store.Directory) ? Directory.EnumerateDirectories(store.Directory, ".staging-*").ToList() : [];
        }
        catch (IOException) { return []; } // the child cleared the folder as it was read
    }

    private static int Soak(string jobFile, int kills, string? outDir, int seed)
    {
        string work = outDir ?? Path.Combine(Path.GetTempPath(), $"lwf-soak-{Guid.NewGuid():N}");
        if (Directory.Exists(work) && Directory.EnumerateFileSystemEntries(work).Any())
            throw new LwfInputException($"--out {work} is not empty: the soak writes its runs there");
        var spec = JobSpec.Load(jobFile);
        Directory.CreateDirectory(work);
        string fingerprint = CheckpointStore.Sha256(spec.SourcePath);

        // The uninterrupted run, every checkpoint kept: what each resume must find.
        var clock = Stopwatch.StartNew();
        var reference = new Dictionary<int, Dictionary<string, string>>();
        string referenceDir = Path.Combine(work, "reference");
        new LwfJobRunner(spec with { Checkpoint = spec.Checkpoint with { Keep = 100_000 } }, new CheckpointRecorder(reference)).Run(referenceDir);
        byte[] finalWeights = File.ReadAllBytes(Path.Combine(referenceDir, "model", "model.safetensors"));
        double referenceSeconds = clock.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"reference: {reference.Count} checkpoints (steps {string.Join(", ", reference.Keys.Order())}) in {referenceSeconds:F1} s");

        string soakDir = Path.Combine(work, "soak");
        var store = new CheckpointStore(soakDir, spec.Checkpoint.Keep);
        var random = new Random(seed);
        int killed = 0, inWrite = 0, resumes = 0, fresh = 0, finished = 0, passedOver = 0;
        var failures = new List<string>();
        var resumedSteps = new SortedDictionary<int, int>();
        string lwf = typeof(SoakCommand).Assembly.Location;

        while (killed < kills || finished == 0)
        {
            // What a resume would load now: it must be a checkpoint of the uninterrupted run, byte for byte.
            var rejected = new List<string>();
            var latest = store.Latest(fingerprint, rejected);
            passedOver += rejected.Count;
            if (latest is not null)
            {
                resumes++;
                resumedSteps[latest.Manifest.Step] = resumedSteps.GetValueOrDefault(latest.Manifest.Step) + 1;
                if (!reference.TryGetValue(latest.Manifest.Step, out var expected))
                    failures.Add($"a resume would load step {latest.Manifest.Step}, which the uninterrupted run never wrote");
                else if (!Deterministic(latest.Manifest).OrderBy(p => p.Key).SequenceEqual(expected.OrderBy(p => p.Key)))
                    failures.Add($"checkpoint {latest.Directory} differs from the uninterrupted run's step {latest.Manifest.Step}");
                // The manifest's checksums are what Latest verified; the files must still hold them.
                else if (CheckpointStore.Verify(latest.Directory, out _) is { } problem)
                    failures.Add($"checkpoint {latest.Directory} was loadable but {problem}");
            }
            else fresh++;

            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { lwf, "train", jobFile, "--out", soakDir }) start.ArgumentList.Add(arg);
            // No whole checkpoint yet: a fresh start over what the killed run left (its staging folders).
            start.ArgumentList.Add(latest is not null ? "--resume" : OutputFolder.OverwriteFlag);
            using var child = Process.Start(start) ?? throw new InvalidOperationException("could not start lwf train");
            var stdout = child.StandardOutput.ReadToEndAsync();
            var stderr = child.StandardError.ReadToEndAsync();

            // Half the kills wait for a checkpoint write to start (once there is a checkpoint to go back to: a kill in
            // the first write of a fresh run would only ever meet that write); the others land at any time of the run,
            // its process start-up (a few seconds) included.
            bool aimAtWrite = killed < kills && latest is not null && random.Next(2) == 0;
            double after = (0.25 + 0.75 * random.NextDouble()) * (referenceSeconds + 3);
            var since = Stopwatch.StartNew();
            bool wasKilled = false;
            // A staging folder left by the last kill is not a write of this child's (its next save removes it).
            var stale = Staging(store).ToHashSet();
            while (!child.HasExited && killed < kills)
            {
                bool writing = Staging(store).Any(d => !stale.Contains(d));
                if (aimAtWrite ? writing : since.Elapsed.TotalSeconds >= after)
                {
                    if (aimAtWrite) Thread.Sleep(random.Next(0, 40));
                    bool inTheWrite = Staging(store).Any(d => !stale.Contains(d));
                    child.Kill();
                    child.WaitForExit();
                    wasKilled = true;
                    killed++;
                    if (inTheWrite) inWrite++;
                    break;
                }
                Thread.Sleep(aimAtWrite ? 1 : 10);
            }
            child.WaitForExit();
            if (wasKilled) continue;
            if (child.ExitCode != 0)
            {
                failures.Add($"lwf train exited {child.ExitCode} without being killed (resumed: {latest is not null}); its stderr ends:\n" +
                    string.Join('\n', stderr.Result.Trim().Split('\n').Where(l => !l.Contains('[')).TakeLast(25)));
                break;
            }
            finished++;
            if (!File.ReadAllBytes(Path.Combine(soakDir, "model", "model.safetensors")).AsSpan().SequenceEqual(finalWeights))
                failures.Add($"run {finished} reached the end with weights that differ from the uninterrupted run's");
            // Start over, so the next kills land in a run again.
            Directory.Delete(soakDir, recursive: true);
            Console.Error.WriteLine($"  run {finished} reached the end after {killed} kills in all: weights {(failures.Count == 0 ? "identical" : "checked")}");
        }

        Console.WriteLine($"kills: {killed} (SIGKILL), {inWrite} of them while a checkpoint was being written (a staging folder on disk)");
        Console.WriteLine($"restarts: {resumes} resumed from a whole checkpoint (steps: {string.Join(", ", resumedSteps.Select(p => $"{p.Key}×{p.Value}"))}), {fresh} from the start (no whole checkpoint yet)");
        Console.WriteLine($"checkpoints passed over as unfinished or damaged: {passedOver}; damaged checkpoints loaded: {failures.Count(f => f.Contains("was loadable", StringComparison.Ordinal))}");
        Console.WriteLine($"runs that reached the end: {finished}, each compared with the uninterrupted run's weights");
        Console.WriteLine($"differences from the uninterrupted run: {failures.Count}");
        foreach (var failure in failures) Console.WriteLine($"  {failure}");
        Console.WriteLine($"took {clock.Elapsed.TotalMinutes:F1} min");
        if (failures.Count > 0) return 1;
        if (outDir is null) Directory.Delete(work, recursive: true);
        return 0;
    }
}
