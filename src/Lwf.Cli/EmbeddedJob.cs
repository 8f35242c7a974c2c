using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Checkpoints;

namespace Lwf.Cli;

/// <summary>
/// One job on an embedded cluster, as `lwf run` and `lwf demo` run it: submitted, followed, its results brought into
/// OUT. On the first ^C the job stops after the step in flight (as `lwf cancel`), its trainer writes a checkpoint
/// there (none before the first step), and that newest checkpoint comes into OUT,
/// where `lwf train --resume` goes on from it in one process (the same runner, the same weights).
/// </summary>
internal static class EmbeddedJob
{
    /// <summary>The job's final status, or null when ^C stopped it (what was kept and how to go on is printed).</summary>
    public static async Task<JobStatus?> RunAsync(IGrainFactory grains, string checkpoints, string jobId, string jobFile, string outDir,
        TextWriter watch, WatchFormat format, Interrupts interrupts)
    {
        var trainer = grains.GetGrain<ITrainerGrain>(jobId);
        var status = await trainer.Submit(new JobRequest(jobFile));
        if (status.Phase == JobPhase.Failed) throw new LwfInputException(status.Message ?? $"{jobFile}: the job was refused");
        using var onFirst = interrupts.First.Register(() =>
        {
            Console.Error.WriteLine("\n" + Interrupts.StoppingAtStep);
            _ = trainer.Cancel().AsTask();
        });
        if (interrupts.First.IsCancellationRequested) await trainer.Cancel(); // ^C came between two jobs
        status = await JobClient.WatchAsync(grains, jobId, watch, format);
        if (interrupts.First.IsCancellationRequested && status.Phase != JobPhase.Done)
        {
            var store = new CheckpointStore(Path.Combine(checkpoints, jobId));
            if (store.Steps() is not { Count: > 0 } steps)
            {
                Console.Error.WriteLine($"stopped before the job's first checkpoint; nothing to go on from: run it again with {OutputFolder.OverwriteFlag} to start afresh");
                return null;
            }
            string newest = store.PathOf(steps.Max()), name = Path.GetFileName(newest);
            CopyFolder(newest, Path.Combine(outDir, name));
            Console.Error.WriteLine($"stopped after learning step {status.Step} of {status.TotalSteps}: {name} is in {outDir}. " +
                $"Go on in one process with:\n  lwf train {jobFile} --out {outDir} --resume");
            return null;
        }
        if (status.Phase != JobPhase.Done) return status;
        Directory.CreateDirectory(outDir);
        await JobClient.DownloadResultsAsync(grains, jobId, outDir);
        return status;
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(from)) CopyFolder(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
