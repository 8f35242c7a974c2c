using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Grains.Security;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Jobs;
using Lwf.Core.Reports;
using Lwf.Core.Training;
using Lwf.Grains.Replicas;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Lwf.Grains.Jobs;

/// <summary>
/// The job's schedule: validates the job at submit, runs the LWF loop (Lwf.Core's runner) over the silos'
/// replicas through the coordinator (it holds no model of its own), and keeps the job's status. The loop runs on the thread pool, so status requests are answered meanwhile.
/// The job's record (job.json) and checkpoints live in the job's folder on the checkpoint volume: when the
/// trainer's silo dies, the next call (from a client or any silo's <see cref="JobWatchdog"/>) activates the
/// trainer on a live silo, and the activation resumes the job from the replicas that survived on other silos (the
/// schedule's live state is recorded after every step), or from its newest checkpoint when none did. It runs on
/// the silo that took the submit (the client's gateway), or that of the watchdog that resumed it.
/// </summary>
[Orleans.Placement.PreferLocalPlacement]
public sealed partial class TrainerGrain(
    [PersistentState(TrainerGrain.StateName, JobFolderStorage.Name)] IPersistentState<JobRecord> record,
    IGrainFactory grains, ILocalSiloDetails silo, IOptions<LwfSiloOptions> options, Telemetry.LwfMetrics metrics,
    ILogger<TrainerGrain> logger)
    : Grain, ITrainerGrain
{
    public const string StateName = "job";

    private string? _jobId;
    private readonly object _gate = new();
    private JobStatus? _status;
    private Task? _run;
    private CancellationTokenSource? _cancel;
    // `lwf cancel` (and ^C on `lwf run`) stops at the next step boundary with a checkpoint there, as `lwf train`'s ^C
    // does; before this activation's first learning step there is nothing new to keep, so it stops at once (_cancel).
    private CancellationTokenSource? _stop;
    private volatile bool _stepped;
    private ClusterReplicaGroup? _replicas;
    private TaskScheduler _grainScheduler = TaskScheduler.Default;
    private volatile bool _deactivating;
    private volatile int _supersededBy; // the newer activation number, once the record shows one

    // Read on the grain's own thread (activation services are off-limits to the thread-pool loop).
    private string JobId => _jobId ??= this.GetPrimaryKeyString();

    private JobFolders Folders => JobFolders.Of(options.Value.CheckpointDirectory, JobId);

    private string JobDirectory => Folders.Root;

    private string ResultsDirectory => Folders.Results;

    private JobLog Log => new(JobDirectory);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ = JobId;
        _grainScheduler = TaskScheduler.Current;
        if (record.RecordExists)
        {
            if (record.State.Phase.IsFinal())
                _status = record.State.Final ?? NewStatus(record.State.Phase, 0, 0, "the job ended");
            else
                await ResumeAsync();
        }
        await base.OnActivateAsync(cancellationToken);
    }

    /// <summary>The job had not ended when its last trainer stopped (its silo died or shut down): go on from the surviving replicas or the newest checkpoint.</summary>
    private async Task ResumeAsync()
    {
        JobSpec spec;
        try
        {
            spec = options.Value.LoadJob(record.State.JobFile, JobId);
        }
        catch (LwfInputException e)
        {
            _status = NewStatus(JobPhase.Failed, 0, 0, $"cannot resume: {e.Message}");
            await PersistFinal(_status, record.State.Incarnation);
            return;
        }
        LogResuming(logger, JobId, silo.SiloAddress.ToString(), record.State.Incarnation + 1);
        var stalledSince = Log.LastLineTime(); // the job's last progress: its recovery timeline starts there
        Log.Write($"resuming on {silo.SiloAddress.Endpoint} (trainer activation {record.State.Incarnation + 1}): its silo stopped");
        await StartAsync(spec, resume: true, stalledSince ?? DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// Refuses a client that is neither the job's owner nor an operator (<see cref="ClientIdentity"/>); the cluster's own
    /// calls, and every call on a cluster without TLS, pass. A job submitted before owners were recorded has none.
    /// </summary>
    private void Authorize(string action)
    {
        if (ClientIdentity.Caller is { } caller && !caller.MayReach(record.RecordExists ? record.State.Owner : null))
            throw new UnauthorizedAccessException($"job {JobId} is not yours ({caller.Subject}): only its owner and the cluster's operators may {action} it");
    }

    /// <summary>
    /// Files uploaded for this id (`lwf submit` without --on-cluster) are their uploader's: another tenant may not
    /// submit them (it would own, and fetch, a model trained on someone else's data).
    /// </summary>
    private void AuthorizeInputs(string jobFile)
    {
        if (ClientIdentity.Caller is not { } caller) return;
        string inputs = JobUploadGrain.InputsFolder(options.Value.CheckpointDirectory, JobId);
        if (!DataRoot.HoldsLexically(Path.GetFullPath(inputs), Path.GetFullPath(jobFile))) return;
        string? uploader = JobUploadGrain.Uploader(options.Value.CheckpointDirectory, JobId);
        if (!caller.MayReach(uploader))
            throw new UnauthorizedAccessException($"the files uploaded for job {JobId} are not yours ({caller.Subject}): submit your own upload under another id");
    }

    public async ValueTask<JobStatus> Submit(JobRequest request)
    {
        Authorize("submit under its id");
        AuthorizeInputs(request.JobFile);
        lock (_gate)
        {
            if (_status is not null)
            {
                // The same job id twice is one job; under another job file it is a mistake, not a second way to ask for the first.
                if (record.RecordExists && !string.Equals(record.State.JobFile, Path.GetFullPath(request.JobFile), StringComparison.Ordinal))
                    return NewStatus(JobPhase.Failed, 0, 0, $"job id '{JobId}' is taken by {record.State.JobFile} ({_status.Phase.ToString().ToLowerInvariant()}); " +
                        "submit under another --id");
                return _status;
            }
        }
        if (!JobIds.IsValid(JobId))
            return NewStatus(JobPhase.Failed, 0, 0, $"job id '{JobId}' is not valid: {JobIds.Rule}");
        JobSpec spec;
        try
        {
            spec = options.Value.LoadJob(request.JobFile, JobId);
            // The model and the data as the shards will read them: a bad one is refused now, not found by the job.
            await TorchThread.RunAsync(() => { JobInputs.Check(spec); return 0; });
        }
        catch (LwfInputException e)
        {
            return NewStatus(JobPhase.Failed, 0, 0, e.Message); // refused: nothing recorded, nothing started
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException
                                      or OverflowException or FormatException or System.Runtime.InteropServices.ExternalException)
        {
            // An input no check names yet: refused all the same, with what went wrong, never an unhandled grain error.
            return NewStatus(JobPhase.Failed, 0, 0, $"{request.JobFile}: its inputs could not be read: {e.Message}");
        }
        record.State = new JobRecord { JobFile = spec.SourcePath, Submitted = DateTimeOffset.UtcNow, Phase = JobPhase.Pending, Owner = ClientIdentity.Caller?.DnsName };
        Log.Write($"submitted {spec.SourcePath}: {spec.Train.Steps} steps of {spec.Train.GlobalBatchSize} records (trainer on {silo.SiloAddress.Endpoint})");
        return await StartAsync(spec, resume: false);
    }

    /// <summary>Records a new activation of the job and starts its loop; returns the status it starts from (pending).</summary>
    private async Task<JobStatus> StartAsync(JobSpec spec, bool resume, DateTimeOffset? stalledSince = null)
    {
        record.State.Incarnation++;
        if (record.State.Shards == 0) record.State.Shards = options.Value.ShardsPerJob > 0 ? options.Value.ShardsPerJob : 2 * await ActiveSilos();
        await record.WriteStateAsync();
        int incarnation = record.State.Incarnation, shards = record.State.Shards;
        // A running job keeps its trainer: only the silo's death or shutdown ends the activation.
        DelayDeactivation(TimeSpan.FromDays(3650));
        lock (_gate)
        {
            _status = NewStatus(JobPhase.Pending, 0, spec.Train.Steps, resume ? "resuming (from the surviving replicas, else the newest checkpoint)" : null);
            metrics.JobPhaseChanged(JobId, JobPhase.Pending);
            var started = _status;
            _cancel?.Dispose();
            _cancel = new CancellationTokenSource();
            _stop?.Dispose();
            _stop = new CancellationTokenSource();
            _stepped = false;
            _run = Task.Run(() => RunAsync(spec, incarnation, shards, resume, stalledSince, _stop.Token, _cancel.Token));
            return started;
        }
    }

    private JobStatus NewStatus(JobPhase phase, int step, int totalSteps, string? message) =>
        new(JobId, phase, step, totalSteps, null, null, 0, message, new Dictionary<string, int>(), null, silo.SiloAddress.ToString());

    private async Task RunAsync(JobSpec spec, int incarnation, int shards, bool resume, DateTimeOffset? stalledSince,
        CancellationToken stop, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var log = Log;
        // The silo knows its hardware: in a cluster the trainer runs on its silo's device (the job file's
        // `device` is for a single-process `lwf train`), as the replicas do.
        var runner = new LwfJobRunner(spec with { Device = options.Value.Device }, new Observer(this, spec, incarnation, metrics, options.Value.CheckpointDirectory))
        {
            Resume = resume,
            StopRequest = stop,
            CheckpointDirectory = JobDirectory,
            LiveStateDirectory = Folders.Live,
        };
        JobStatus final;
        try
        {
            Directory.CreateDirectory(ResultsDirectory);
            var report = await runner.RunAsync(ResultsDirectory, progress =>
            {
                _replicas = new ClusterReplicaGroup(grains, JobId, spec, shards, Folders.Work, options.Value.ReplicaCheckEvery, progress)
                {
                    StalledSince = stalledSince,
                };
                return _replicas;
            }, cancellation);
            var perSilo = _replicas?.ShardsPerSilo ?? new Dictionary<string, int>();
            final = Update(s => s with
            {
                Phase = JobPhase.Done, Step = spec.Train.Steps, ShardsPerSilo = perSilo, Message = null,
                ForgettingLoss = report.ForgettingLoss.LastOrDefault()?.Loss, ResultTable = ReportWriter.Table(report),
            });
            LogFinished(logger, JobId, clock.Elapsed.TotalSeconds);
        }
        catch (Exception) when (_deactivating)
        {
            LogHandingOver(logger, JobId);
            return; // the record still says running: the next activation resumes from the newest checkpoint
        }
        catch (Exception) when (_supersededBy != 0)
        {
            // The record belongs to a newer activation: leave it, and let this one go, so that the next call
            // reaches (or starts) the activation that owns the job.
            LogSuperseded(logger, JobId, incarnation, _supersededBy);
            await Task.Factory.StartNew(DeactivateOnIdle, CancellationToken.None, TaskCreationOptions.None, _grainScheduler);
            return;
        }
        catch (LwfStoppedException stopped)
        {
            final = Update(s => s with
            {
                Phase = JobPhase.Cancelled, Step = stopped.Step,
                Message = stopped.Checkpoint is { } at
                    ? $"cancelled after learning step {stopped.Step}; {Path.GetFileName(at)} written there"
                    : $"cancelled after learning step {stopped.Step}; the newest checkpoint is kept (step {s.CheckpointStep?.ToString() ?? "none"})",
            });
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            final = Update(s => s with { Phase = JobPhase.Cancelled, Message = $"cancelled; the newest checkpoint is kept (step {s.CheckpointStep?.ToString() ?? "none"})" });
        }
        catch (Exception e)
        {
            LogFailed(logger, e, JobId);
            final = Update(s => s with { Phase = JobPhase.Failed, Message = e is LwfInputException or LwfTrainingException ? e.Message : $"{e.GetType().Name}: {e.Message}" });
        }
        log.Write($"{Lower(final.Phase)} after {clock.Elapsed.TotalSeconds:F1} s of this activation" + (final.Message is { } m ? $": {m}" : ""));
        await Task.Factory.StartNew(() => PersistFinal(final, incarnation), CancellationToken.None, TaskCreationOptions.None, _grainScheduler).Unwrap();
    }

    private static string Lower(JobPhase phase) => phase.ToString().ToLowerInvariant();

    /// <summary>On the grain's scheduler: the job has ended; its record says so, and the activation may be collected again.</summary>
    private async Task PersistFinal(JobStatus status, int incarnation)
    {
        record.State.Phase = status.Phase;
        record.State.Final = status;
        try
        {
            await record.WriteStateAsync();
        }
        catch (InconsistentStateException)
        {
            // The record changed under this activation: re-read it. A later activation owns the job then, and
            // its outcome is the one to keep; otherwise write this one over the stale copy.
            await record.ReadStateAsync();
            if (record.State.Incarnation != incarnation)
            {
                LogSuperseded(logger, JobId, incarnation, record.State.Incarnation);
                return;
            }
            record.State.Phase = status.Phase;
            record.State.Final = status;
            await record.WriteStateAsync();
        }
        DelayDeactivation(TimeSpan.FromMilliseconds(-1));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_run is { IsCompleted: false } run)
        {
            _deactivating = true;
            if (_replicas is { } workers) workers.HandingOver = true;
            _cancel?.Cancel();
            try { await run.WaitAsync(cancellationToken); } catch (Exception) { }
        }
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private async Task<int> ActiveSilos()
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        return Math.Max(1, hosts.Count);
    }

    private JobStatus Update(Func<JobStatus, JobStatus> change)
    {
        lock (_gate)
        {
            _status = change(_status!);
            metrics.JobPhaseChanged(JobId, _status.Phase);
            return _status;
        }
    }

    public ValueTask<JobStatus> GetStatus()
    {
        Authorize("watch");
        lock (_gate)
        {
            var status = _status ?? NewStatus(JobPhase.Failed, 0, 0, "no such job");
            if (_replicas is { } w && !status.Phase.IsFinal()) status = status with { ShardsPerSilo = w.ShardsPerSilo };
            return new(status);
        }
    }

    public ValueTask<JobStatus> Cancel()
    {
        Authorize("cancel");
        _stop?.Cancel();
        if (!_stepped) _cancel?.Cancel();
        return GetStatus();
    }

    public async ValueTask<JobStatus> Resume()
    {
        Authorize("resume");
        lock (_gate)
        {
            if (_status is null || !record.RecordExists) return NewStatus(JobPhase.Failed, 0, 0, $"no job '{JobId}'");
            // The record, not the live status, decides: a run that has just stopped says cancelled before its
            // record does, and its last write must not land on the resumed run's.
            if (_status.Phase != JobPhase.Cancelled || record.State.Phase != JobPhase.Cancelled || _run is { IsCompleted: false })
                return _status with { Message = _status.Phase == JobPhase.Cancelled
                    ? "the job is still stopping; resume it again in a moment"
                    : $"only a cancelled job is resumed; this one is {_status.Phase.ToString().ToLowerInvariant()}" };
        }
        JobSpec spec;
        try
        {
            spec = options.Value.LoadJob(record.State.JobFile, JobId);
        }
        catch (LwfInputException e)
        {
            // The job stays cancelled: its record is not touched.
            return _status! with { Message = $"cannot resume: {e.Message}" };
        }
        LogResuming(logger, JobId, silo.SiloAddress.ToString(), record.State.Incarnation + 1);
        Log.Write($"resuming on {silo.SiloAddress.Endpoint} (trainer activation {record.State.Incarnation + 1}): asked to");
        // The cancelled run let go of its replicas: its live state names none that survive, so the job goes on
        // from its newest checkpoint.
        string live = Folders.Live;
        if (Directory.Exists(live)) Directory.Delete(live, recursive: true);
        record.State.Phase = JobPhase.Pending;
        record.State.Final = null;
        return await StartAsync(spec, resume: true);
    }

    public ValueTask<ResultFile[]> ListResults()
    {
        Authorize("fetch the results of");
        // The folder is named by the grain's key: a key that is no job id could name a folder elsewhere.
        if (!JobIds.IsValid(JobId) || !Directory.Exists(ResultsDirectory)) return new([]);
        return new(Directory.EnumerateFiles(ResultsDirectory, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Select(f => new ResultFile(Path.GetRelativePath(ResultsDirectory, f), new FileInfo(f).Length)).ToArray());
    }

    public async ValueTask<byte[]> GetResultChunk(string relativePath, long offset, int length)
    {
        Authorize("fetch the results of");
        string path = Path.Combine(ResultsDirectory, relativePath);
        if (!JobIds.IsValid(JobId) || Path.IsPathRooted(relativePath) || !new DataRoot(ResultsDirectory).Holds(path) || !File.Exists(path))
            throw new ArgumentException($"{relativePath} is not a result file");
        await using var stream = File.OpenRead(path);
        stream.Position = offset;
        var buffer = new byte[(int)Math.Min(length, Math.Max(0, stream.Length - offset))];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    public ValueTask<long> Remove()
    {
        Authorize("remove");
        lock (_gate)
        {
            if (_status is not { } status)
                throw new LwfInputException($"no job '{JobId}' on this cluster");
            if (!status.Phase.IsFinal())
                throw new LwfInputException($"{JobId} is {status.Phase.ToString().ToLowerInvariant()}: only a done, failed or cancelled job's files are removed (`lwf cancel {JobId}` first)");
            _status = null;
        }
        long bytes = JobDirectoryGrain.FolderBytes(JobDirectory);
        if (Directory.Exists(JobDirectory)) Directory.Delete(JobDirectory, recursive: true);
        // Its record went with the folder: the next call finds no job of this id.
        DeactivateOnIdle();
        return new(bytes);
    }

    public ValueTask<JobLogChunk> GetLog(long offset)
    {
        Authorize("read the log of");
        return new(JobIds.IsValid(JobId) ? Log.Read(offset) : new JobLogChunk("", 0));
    }

    /// <summary>
    /// The runner's events, published as the job's status, log and metrics: stages map to the job's phases, and each
    /// learning step checks that this activation still owns the job.
    /// </summary>
    private sealed class Observer(TrainerGrain trainer, JobSpec spec, int incarnation, Telemetry.LwfMetrics metrics, string checkpointDirectory) : IJobObserver
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly JobLog _log = trainer.Log;
        private double _lastStepAt;

        public void Progressed(ProgressUpdate update)
        {
            var phase = update.Stage switch
            {
                JobStage.SelfGeneration => JobPhase.Generating,
                JobStage.Fisher or JobStage.Confidence => JobPhase.Scoring,
                JobStage.Evaluation => JobPhase.Evaluating,
                _ => JobPhase.Training,
            };
            var before = trainer._status?.Phase;
            var now = trainer.Update(s => s.Phase.IsFinal() ? s : s with { Phase = phase });
            if (now.Phase != before && !now.Phase.IsFinal()) _log.Write($"phase {Lower(now.Phase)}");
        }

        public void CheckpointSaved(Checkpoint checkpoint)
        {
            trainer.Update(s => s with { CheckpointStep = checkpoint.Manifest.Step });
            _log.Write($"checkpoint {checkpoint.Manifest.Step} written ({Path.GetFileName(checkpoint.Directory)})");
        }

        public void ForgettingSetChosen(ForgettingChoice choice)
        {
            metrics.ForgettingSetChosen(trainer.JobId, choice.Scores, choice.Selected);
            if (choice.FisherMean is { } mean && choice.FisherMax is { } max) metrics.FisherEstimated(trainer.JobId, mean, max);
        }

        public void Evaluated(EvalPoint point)
        {
            foreach (var result in point.Results) metrics.Evaluated(trainer.JobId, result.Set, result.Metric, result.Value);
            _log.Write($"evaluation ({point.Phase}) at step {point.Step}: " +
                string.Join(", ", point.Results.Select(r => $"{r.Set} {r.Metric} {r.Value:G5}")));
        }

        public void StepCompleted(StepResult step)
        {
            double now = _clock.Elapsed.TotalSeconds;
            double seconds = Math.Max(1e-9, now - _lastStepAt);
            metrics.LearningStep(trainer.JobId, step.Loss, step.LossTokens, step.InputTokens, seconds, step.ForgettingLoss, step.ForgetRecords);
            _lastStepAt = now;
            trainer._stepped = true;
            // Fencing: should a second activation ever run this job (a grain directory that allows duplicates while
            // membership changes), the record's activation number decides, and the older one stops before its next checkpoint.
            if (JobFolderStorage.Read<JobRecord>(JobFolderStorage.PathOf(checkpointDirectory, trainer.JobId, StateName)) is { } stored
                && stored.Incarnation != incarnation)
            {
                trainer._supersededBy = stored.Incarnation;
                trainer._cancel?.Cancel();
            }
            trainer.Update(s => s with { Phase = JobPhase.Training, Step = step.Step, LearningLoss = step.Loss, ForgettingLoss = step.ForgettingLoss ?? s.ForgettingLoss,
                TokensPerSecond = step.LossTokens / seconds, InputTokensPerSecond = step.InputTokens / seconds, Message = null });
            if (step.Step % spec.LoggingSteps == 0 || step.Step == spec.Train.Steps)
                _log.Write($"step {step.Step}/{spec.Train.Steps}: loss {step.Loss:F4}" +
                    (step.ForgettingLoss is { } forgettingLoss ? $", forgetting records {step.ForgetRecords} (their loss {forgettingLoss:F4})" : "") + $", learning rate {step.LearningRate:G4}, " +
                    $"grad norm {step.GradNorm:G4}, {step.InputTokens / seconds:F0} tokens/s");
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} finished in {Seconds:F1}s")]
    private static partial void LogFinished(ILogger logger, string jobId, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: resuming on {Silo} (trainer activation {Incarnation})")]
    private static partial void LogResuming(ILogger logger, string jobId, string silo, int incarnation);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: trainer deactivating; the next activation resumes from the newest checkpoint")]
    private static partial void LogHandingOver(ILogger logger, string jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: activation {Incarnation} ended after activation {Newer} took the job over; its outcome is not recorded")]
    private static partial void LogSuperseded(ILogger logger, string jobId, int incarnation, int newer);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string jobId);
}
