using Lwf.Core.Jobs;
using Lwf.Abstractions;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>What the console does with a submitted job: watch it, fetch its results.</summary>
internal static class JobClient
{
    public const int ResultChunkBytes = 4 * 1024 * 1024;

    /// <summary>Shows the job until it ends (<paramref name="format"/>: live, or one line per event); returns its final status.</summary>
    public static async Task<JobStatus> WatchAsync(IGrainFactory grains, string jobId, TextWriter output, WatchFormat format = WatchFormat.Live,
        CancellationToken cancellation = default)
    {
        var trainer = grains.GetGrain<ITrainerGrain>(jobId);
        var progress = format == WatchFormat.Live ? new ConsoleProgress() : null;
        JobPhase? lastPhase = null;
        (int Step, int? Checkpoint)? lastStep = null;
        var pace = new LinePace();
        while (true)
        {
            // The trainer's silo died: until membership declares it dead and a live silo resumes the job, calls fail.
            var status = await ClusterPatience.CallAsync(() => trainer.GetStatus(),
                $"{jobId}: the trainer is unreachable; the job resumes elsewhere", cancellation);
            bool phaseChanged = status.Phase != lastPhase;
            lastPhase = status.Phase;
            if (progress is not null)
            {
                if (phaseChanged)
                {
                    progress.Done();
                    if (status.Phase != JobPhase.Training) output.WriteLine($"{jobId}: {Lower(status.Phase)}");
                }
                if (status.Phase == JobPhase.Training)
                    progress.Report(new(JobStage.Training, status.Step, status.TotalSteps, Describe(status)));
            }
            else
            {
                // One line per event: a phase, a new step or checkpoint, the end (not one per poll). Lines for people
                // (not JSON) keep the pace of a log: a step line at most every 30 s, some line at least every 60 s.
                bool stepped = status.Phase == JobPhase.Training && lastStep != (status.Step, status.CheckpointStep);
                bool checkpointed = stepped && lastStep?.Checkpoint != status.CheckpointStep;
                if (stepped) lastStep = (status.Step, status.CheckpointStep);
                string? kind = status.Phase.IsFinal() ? JobEvent.Ended : phaseChanged ? JobEvent.PhaseChanged : stepped ? JobEvent.StepTaken : null;
                if (format == WatchFormat.Json)
                {
                    if (kind is not null) output.WriteLine(Event(status, kind).ToJson());
                }
                else if (kind is not null ? pace.Due(DateTime.UtcNow, must: kind != JobEvent.StepTaken || checkpointed) : pace.Overdue(DateTime.UtcNow))
                    output.WriteLine(Line(status));
            }
            if (status.Phase.IsFinal())
            {
                if (progress is not null)
                {
                    progress.Done();
                    if (status.ShardsPerSilo.Count > 0)
                        output.WriteLine($"shards per silo: {string.Join(", ", status.ShardsPerSilo.OrderBy(kv => kv.Key).Select(kv => $"{SiloNames.Short(kv.Key)} {kv.Value}"))}");
                    if (status.Message is { } message) output.WriteLine($"{jobId}: {Lower(status.Phase)}: {message}");
                }
                return status;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(300), cancellation);
        }
    }

    /// <summary>
    /// `lwf watch` and `lwf submit --wait`: follows the job until it ends (exit 0 when it succeeded, 1 otherwise) or
    /// the user presses ^C, which stops following and not the job: it says so, with the commands that reach the job
    /// again, exit 130.
    /// </summary>
    public static async Task<int> FollowAsync(IGrainFactory grains, string jobId, WatchFormat format)
    {
        string reach = $"  lwf watch {jobId}    follow it again\n  lwf cancel {jobId}   stop it at the next step, with a checkpoint there";
        using var interrupts = new Interrupts($"stopped following {jobId}; the job goes on on the cluster.\n{reach}");
        try
        {
            var final = await WatchAsync(grains, jobId, Console.Out, format, interrupts.First);
            if (final.ResultTable is { } table && format != WatchFormat.Json) Console.WriteLine(table);
            return final.Phase == JobPhase.Done ? 0 : 1;
        }
        catch (OperationCanceledException) when (interrupts.First.IsCancellationRequested)
        {
            Console.Error.WriteLine($"\n^C: stopped following {jobId}; the job goes on on the cluster.\n{reach}");
            return Interrupts.ExitCode;
        }
    }

    internal static JobEvent Event(JobStatus s, string kind) => new(
        DateTimeOffset.UtcNow, s.JobId, kind, Lower(s.Phase), s.Step, s.TotalSteps, s.LearningLoss, s.ForgettingLoss,
        s.Phase == JobPhase.Training ? s.InputTokensPerSecond : null, s.CheckpointStep,
        s.TrainerSilo is { } t ? SiloNames.Short(t) : null, s.Message);

    /// <summary>A log line: UTC time, the job, its phase and step, and what the live line would show.</summary>
    private static string Line(JobStatus s) =>
        $"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {s.JobId}: {Lower(s.Phase)} step {s.Step}/{s.TotalSteps}" +
        (s.LearningLoss is null ? "" : ", " + Describe(s)) + (s.Message is { } m ? $": {m}" : "");

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
            status = await WatchAsync(grains, jobId, watch, WatchFormats.Choose(json: false));
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
