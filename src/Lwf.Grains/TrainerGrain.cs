using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Jobs;
using Lwf.Core.Reports;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;

namespace Lwf.Grains;

/// <summary>
/// The job's authority: validates the job at submit, runs the LWF loop (Lwf.Core's runner) with the
/// per-record work on the shards, serves its weights and Fisher to the silos' replicas, and keeps the
/// job's status. The loop runs on the thread pool, so status and weight requests are answered meanwhile.
/// </summary>
public sealed partial class TrainerGrain(IGrainFactory grains, ILocalSiloDetails silo, IOptions<LwfSiloOptions> options, ILogger<TrainerGrain> logger)
    : Grain, ITrainerGrain
{
    private string? _jobId;
    private readonly object _gate = new();
    private JobStatus? _status;
    private Task? _run;
    private CancellationTokenSource? _cancel;
    private ClusterWorkers? _workers;

    // Read on the grain's own thread (activation services are off-limits to the thread-pool loop).
    private string JobId => _jobId ??= this.GetPrimaryKeyString();

    private string JobDirectory => Path.Combine(options.Value.CheckpointDirectory, JobId);

    private string ResultsDirectory => Path.Combine(JobDirectory, "results");

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _ = JobId;
        return base.OnActivateAsync(cancellationToken);
    }

    public async ValueTask<JobStatus> Submit(JobRequest request)
    {
        lock (_gate)
        {
            if (_status is not null) return _status; // the same job id twice: one job
        }
        JobSpec spec;
        try
        {
            spec = JobSpec.Load(request.JobFile);
            CheckDataRoot(spec);
        }
        catch (LwfInputException e)
        {
            return new JobStatus(JobId, JobPhase.Failed, 0, 0, null, null, 0, e.Message, new Dictionary<string, int>(), null);
        }
        lock (_gate)
        {
            _status = new JobStatus(JobId, JobPhase.Pending, 0, spec.Train.Steps, null, null, 0, null, new Dictionary<string, int>(), null,
                silo.SiloAddress.ToString());
            _cancel = new CancellationTokenSource();
            _run = Task.Run(() => RunAsync(spec, _cancel.Token));
        }
        await grains.GetGrain<IJobDirectoryGrain>(0).Register(JobId);
        return _status;
    }

    private void CheckDataRoot(JobSpec spec)
    {
        string root = options.Value.DataRoot;
        if (string.IsNullOrEmpty(root)) return;
        string full = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var paths = new[] { ("job file", spec.SourcePath), ("model", spec.Model), ("data.learnTrain", spec.Data.LearnTrain),
            ("data.learnEval", spec.Data.LearnEval), ("data.forgetPrompts", spec.Data.ForgetPrompts), ("data.forgetEval", spec.Data.ForgetEval),
            ("data.heldOut", spec.Data.HeldOut) };
        foreach (var (key, path) in paths)
            if (path is not null && !Path.GetFullPath(path).StartsWith(full, StringComparison.Ordinal))
                throw new LwfInputException($"{spec.SourcePath}: {key} {path} is outside the cluster's data root {root}");
    }

    private async Task RunAsync(JobSpec spec, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        double lastStepAt = 0;
        var runner = new LwfJobRunner(spec, new Progress(this));
        runner.ForgettingStepCompleted = loss => Update(s => s with { ForgettingLoss = loss });
        runner.StepCompleted = step =>
        {
            double now = clock.Elapsed.TotalSeconds;
            double rate = step.LossTokens / Math.Max(1e-9, now - lastStepAt);
            lastStepAt = now;
            Update(s => s with { Phase = JobPhase.Training, Step = step.Step, LearningLoss = step.Loss, TokensPerSecond = rate });
        };
        try
        {
            Directory.CreateDirectory(ResultsDirectory);
            int shards = options.Value.ShardsPerJob > 0 ? options.Value.ShardsPerJob : 2 * await ActiveSilos();
            var report = await runner.RunAsync(ResultsDirectory, context =>
            {
                _workers = new ClusterWorkers(grains, JobId, context, shards, Path.Combine(JobDirectory, "work"));
                return _workers;
            }, cancellation);
            var perSilo = _workers?.ShardsPerSilo ?? new Dictionary<string, int>();
            Update(s => s with
            {
                Phase = JobPhase.Done, Step = spec.Train.Steps, ShardsPerSilo = perSilo,
                ForgettingLoss = report.ForgettingLoss.LastOrDefault()?.Loss, ResultTable = ReportWriter.Table(report),
            });
            LogFinished(logger, JobId, clock.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            Update(s => s with { Phase = JobPhase.Cancelled, Message = "cancelled" });
        }
        catch (Exception e)
        {
            LogFailed(logger, e, JobId);
            Update(s => s with { Phase = JobPhase.Failed, Message = e is LwfInputException ? e.Message : $"{e.GetType().Name}: {e.Message}" });
        }
    }

    private async Task<int> ActiveSilos()
    {
        var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
        return Math.Max(1, hosts.Count);
    }

    private void Update(Func<JobStatus, JobStatus> change)
    {
        lock (_gate) _status = change(_status!);
    }

    public ValueTask<JobStatus> GetStatus()
    {
        lock (_gate)
        {
            var status = _status ?? new JobStatus(JobId, JobPhase.Failed, 0, 0, null, null, 0, "no such job", new Dictionary<string, int>(), null);
            if (_workers is { } w && !status.Phase.IsFinal()) status = status with { ShardsPerSilo = w.ShardsPerSilo };
            return new(status);
        }
    }

    public ValueTask<JobStatus> Cancel()
    {
        _cancel?.Cancel();
        return GetStatus();
    }

    public async ValueTask<TensorManifest> GetWeights(long version)
    {
        var workers = _workers ?? throw new InvalidOperationException("the job is not running");
        return (await Task.Run(() => workers.Weights(version))).Manifest;
    }

    public ValueTask<byte[]> GetWeightChunk(long version, int chunk) =>
        new((_workers ?? throw new InvalidOperationException("the job is not running")).Weights(version).Chunk(chunk));

    public ValueTask<TensorManifest> GetFisher(long fisherVersion) =>
        new((_workers ?? throw new InvalidOperationException("the job is not running")).Fisher(fisherVersion).Manifest);

    public ValueTask<byte[]> GetFisherChunk(long fisherVersion, int chunk) =>
        new((_workers ?? throw new InvalidOperationException("the job is not running")).Fisher(fisherVersion).Chunk(chunk));

    public ValueTask<ResultFile[]> ListResults()
    {
        if (!Directory.Exists(ResultsDirectory)) return new([]);
        return new(Directory.EnumerateFiles(ResultsDirectory, "*", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Select(f => new ResultFile(Path.GetRelativePath(ResultsDirectory, f), new FileInfo(f).Length)).ToArray());
    }

    public async ValueTask<byte[]> GetResultChunk(string relativePath, long offset, int length)
    {
        string path = Path.GetFullPath(Path.Combine(ResultsDirectory, relativePath));
        if (!path.StartsWith(Path.GetFullPath(ResultsDirectory) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw new ArgumentException($"{relativePath} is not a result file");
        await using var stream = File.OpenRead(path);
        stream.Position = offset;
        var buffer = new byte[(int)Math.Min(length, Math.Max(0, stream.Length - offset))];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    /// <summary>Maps the runner's stages to the job's phases.</summary>
    private sealed class Progress(TrainerGrain trainer) : IProgress<ProgressUpdate>
    {
        public void Report(ProgressUpdate value)
        {
            var phase = value.Stage switch
            {
                var s when s.StartsWith("self-generation") => JobPhase.Generating,
                var s when s.StartsWith("fisher") || s.StartsWith("confidence") => JobPhase.Scoring,
                var s when s.StartsWith("evaluation") => JobPhase.Evaluating,
                _ => JobPhase.Training,
            };
            trainer.Update(s => s.Phase.IsFinal() ? s : s with { Phase = phase });
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} finished in {Seconds:F1}s")]
    private static partial void LogFinished(ILogger logger, string jobId, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string jobId);
}
