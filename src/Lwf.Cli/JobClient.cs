using Lwf.Abstractions;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>What the console does with a submitted job: watch it, fetch its results.</summary>
internal static class JobClient
{
    public const int ResultChunkBytes = 4 * 1024 * 1024;

    /// <summary>How long `lwf watch` waits for an unreachable trainer to come back before it gives up.</summary>
    public static readonly TimeSpan UnreachableLimit = TimeSpan.FromMinutes(5);

    /// <summary>Shows live progress until the job ends; returns its final status.</summary>
    public static async Task<JobStatus> WatchAsync(IGrainFactory grains, string jobId, TextWriter output, CancellationToken cancellation = default)
    {
        var trainer = grains.GetGrain<ITrainerGrain>(jobId);
        var progress = new ConsoleProgress();
        JobPhase? lastPhase = null;
        DateTime? unreachableSince = null;
        while (true)
        {
            JobStatus status;
            try
            {
                status = await trainer.GetStatus();
                unreachableSince = null;
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not LwfInputException)
            {
                // The trainer's silo died: until membership declares it dead and a live silo resumes the job, calls fail.
                if (unreachableSince is null) Console.Error.WriteLine($"{jobId}: the trainer is unreachable ({e.GetType().Name}); waiting for the job to resume elsewhere");
                unreachableSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - unreachableSince > UnreachableLimit) throw;
                await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
                continue;
            }
            if (status.Phase != lastPhase)
            {
                progress.Done();
                if (status.Phase != JobPhase.Training) output.WriteLine($"{jobId}: {Lower(status.Phase)}");
                lastPhase = status.Phase;
            }
            if (status.Phase == JobPhase.Training)
                progress.Report(new("training", status.Step, status.TotalSteps, Describe(status)));
            if (status.Phase.IsFinal())
            {
                progress.Done();
                if (status.ShardsPerSilo.Count > 0)
                    output.WriteLine($"shards per silo: {string.Join(", ", status.ShardsPerSilo.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))}");
                if (status.Message is { } message) output.WriteLine($"{jobId}: {Lower(status.Phase)}: {message}");
                return status;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(300), cancellation);
        }
    }

    /// <summary>
    /// Submits a job, waits for its end (showing live progress on <paramref name="watch"/>, or quietly), and
    /// downloads its results into <paramref name="outDir"/>. A refused or failed job is an error with its message.
    /// </summary>
    public static async Task<JobStatus> RunToEndAsync(IGrainFactory grains, string jobId, string jobFile, string outDir, TextWriter? watch)
    {
        var trainer = grains.GetGrain<ITrainerGrain>(jobId);
        var status = await trainer.Submit(new JobRequest(jobFile));
        if (status.Phase == JobPhase.Failed) throw new LwfInputException(status.Message ?? $"{jobFile}: the job was refused");
        if (watch is not null)
            status = await WatchAsync(grains, jobId, watch);
        else
            while (!(status = await trainer.GetStatus()).Phase.IsFinal()) await Task.Delay(TimeSpan.FromMilliseconds(500));
        if (status.Phase != JobPhase.Done) throw new LwfInputException($"{jobFile}: the job ended {Lower(status.Phase)}: {status.Message}");
        await DownloadResultsAsync(grains, jobId, outDir);
        return status;
    }

    public static string Describe(JobStatus s) =>
        $"loss {s.LearningLoss:F4}{(s.ForgettingLoss is { } f ? $", forgetting {f:F4}" : "")}, {s.InputTokensPerSecond:F0} tokens/s ({s.TokensPerSecond:F0} loss tokens/s)" +
        (s.CheckpointStep is { } c ? $", checkpoint {c}" : "") +
        (s.ShardsPerSilo.Count > 0 ? $", shards per silo {string.Join("/", s.ShardsPerSilo.OrderBy(kv => kv.Key).Select(kv => kv.Value))}" : "");

    /// <summary>Copies the job's results (the layout of `lwf train`) into <paramref name="outDir"/>.</summary>
    public static async Task<int> DownloadResultsAsync(IGrainFactory grains, string jobId, string outDir)
    {
        var trainer = grains.GetGrain<ITrainerGrain>(jobId);
        var files = await trainer.ListResults();
        // The names come from the cluster: each must stay inside outDir, links already there followed, checked before anything is written.
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(outDir)) + Path.DirectorySeparatorChar;
        var confined = new Lwf.Core.Jobs.DataRoot(outDir);
        foreach (var file in files)
            if (Path.IsPathRooted(file.RelativePath) || !Path.GetFullPath(Path.Combine(root, file.RelativePath)).StartsWith(root, StringComparison.Ordinal)
                || !confined.Holds(Path.Combine(root, file.RelativePath)))
                throw new LwfInputException($"the cluster named a result file outside --out ('{file.RelativePath}'): nothing was written");
        foreach (var file in files)
        {
            string target = Path.GetFullPath(Path.Combine(root, file.RelativePath));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            string partial = target + ".partial";
            await using (var stream = File.Create(partial))
            {
                for (long offset = 0; offset < file.Length; offset += ResultChunkBytes)
                    await stream.WriteAsync(await trainer.GetResultChunk(file.RelativePath, offset, ResultChunkBytes));
            }
            File.Move(partial, target, overwrite: true);
        }
        return files.Length;
    }

    public static string Lower(JobPhase phase) => phase.ToString().ToLowerInvariant();
}
