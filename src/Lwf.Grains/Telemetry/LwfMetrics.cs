using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Lwf.Abstractions;

namespace Lwf.Grains.Telemetry;

/// <summary>
/// The silo's LWF instruments (meter "Lwf.Orleans"), exported at /metrics in the Prometheus format by the silo
/// host. Counters and histograms are recorded where the work happens (the trainer's steps, the data plane,
/// the replicas); the latest loss, evaluation, forgetting-set and Fisher values of each job on this silo are
/// kept here and observed at scrape time. Prometheus names: dots become underscores, counters end in
/// <c>_total</c>, and the unit is appended (<c>lwf_step_duration_seconds</c>).
/// </summary>
public sealed class LwfMetrics : IDisposable
{
    /// <summary>Every measurement carries its silo: silos that share a process (embedded mode) share its meters.</summary>
    public LwfMetrics(Orleans.Runtime.ILocalSiloDetails silo) : this(silo.SiloAddress.ToString()) { }

    private readonly KeyValuePair<string, object?> _silo;

    public const string MeterName = "Lwf.Orleans";

    /// <summary>
    /// The job label. Not "job": Prometheus gives every scraped series its scrape job's name under "job" and
    /// would rename ours to "exported_job".
    /// </summary>
    public const string JobLabel = "job_id";

    /// <summary>Step and sync times: from a tiny CPU step (10 ms) to a large model's step (30 min).</summary>
    private static readonly double[] SecondsBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 1800];

    /// <summary>
    /// Forgetting confidences are signed and their scale depends on the method (Fisher-weighted scores of ±20
    /// on the small models, likelihoods of -4, random draws in [0, 1)): symmetric, roughly logarithmic buckets.
    /// </summary>
    private static readonly double[] ConfidenceBuckets = [-1000, -300, -100, -30, -10, -3, -1, -0.3, -0.1, 0, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000];

    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _inputTokens;
    private readonly Counter<long> _optimizerSteps;
    private readonly Counter<long> _forgetRecords;
    private readonly Histogram<double> _stepDuration;
    private readonly Histogram<double> _confidence;
    private readonly Counter<long> _bytesMoved;
    private readonly Counter<long> _framesRefused;
    private readonly Histogram<double> _replicaSync;
    private readonly Histogram<double> _recovery;
    private readonly ConcurrentDictionary<string, JobGauges> _jobs = new();
    private readonly ConcurrentDictionary<string, int> _shards = new();

    /// <summary>The latest values of one job on this silo (its trainer lives here).</summary>
    private sealed class JobGauges
    {
        public double? LearningLoss, ForgettingLoss, FisherMean, FisherMax;
        public int? ForgettingSetSize;
        public JobPhase Phase;
        public readonly ConcurrentDictionary<(string Set, string Metric), double> Evaluations = new();
    }

    public LwfMetrics(string silo)
    {
        _silo = new("silo", silo);
        _tokens = _meter.CreateCounter<long>("lwf.tokens", "{token}", "Loss tokens the learning steps trained on");
        _inputTokens = _meter.CreateCounter<long>("lwf.input.tokens", "{token}", "Input tokens (padding left out) the learning steps processed, as HF's tokens per second counts");
        _optimizerSteps = _meter.CreateCounter<long>("lwf.optimizer.steps", "{step}", "Optimizer steps (each over learning records and the forgetting records it carries)");
        _forgetRecords = _meter.CreateCounter<long>("lwf.forgetting.records", "{record}", "Forgetting records the learning steps carried (weighted by alpha in their loss)");
        _stepDuration = _meter.CreateHistogram("lwf.step.duration", "s", "Wall time of an optimizer step",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _confidence = _meter.CreateHistogram("lwf.forgetting.confidence", "{score}", "Forgetting confidence of each self-generated sample when the forgetting set is chosen",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = ConfidenceBuckets });
        _bytesMoved = _meter.CreateCounter<long>("lwf.dataplane.bytes", "By", "Tensor bytes this silo sent to or received from other silos, by direction");
        _framesRefused = _meter.CreateCounter<long>("lwf.dataplane.frames.refused", "{frame}",
            "Data-plane frames dropped on arrival because this silo had aborted their operation: a late peer's (one that hung, was declared dead and woke)");
        _replicaSync = _meter.CreateHistogram("lwf.replica.sync.duration", "s", "Time of one all-reduce (a step's gradient, a Fisher estimate) on a replica",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _recovery = _meter.CreateHistogram("lwf.recovery.duration", "s",
            "Seconds from a job's last progress to each stage of its recovery after a silo's death: noticed, ring formed, work resumed",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });
        _meter.CreateObservableGauge("lwf.learning.loss", () => Gauge(j => j.LearningLoss), description: "Latest learning loss (mean token NLL) per job");
        _meter.CreateObservableGauge("lwf.forgetting.loss", () => Gauge(j => j.ForgettingLoss), description: "Latest mean token NLL of the forgetting records a step carried, per job");
        _meter.CreateObservableGauge("lwf.fisher.mean", () => Gauge(j => j.FisherMean), description: "Mean of the diagonal Fisher over all parameters, latest estimate per job");
        _meter.CreateObservableGauge("lwf.fisher.max", () => Gauge(j => j.FisherMax), description: "Largest diagonal Fisher entry, latest estimate per job");
        _meter.CreateObservableGauge("lwf.forgetting.set.size", () => Gauge(j => j.ForgettingSetSize), "{sample}", "Samples in the current forgetting set per job");
        _meter.CreateObservableGauge("lwf.eval.value", ObserveEvaluations, description: "Latest evaluation result per job, set and metric");
        _meter.CreateObservableGauge("lwf.shards", () => _shards.Select(kv => new Measurement<int>(kv.Value, Tags(Tag(JobLabel, kv.Key)))),
            "{shard}", "Shard grains of each job active on this silo");
        _meter.CreateObservableGauge("lwf.jobs", ObserveJobs, "{job}", "Jobs whose trainer is on this silo, by state");
    }

    private static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    private System.Diagnostics.TagList Tags(params KeyValuePair<string, object?>[] tags)
    {
        var list = new System.Diagnostics.TagList { _silo };
        foreach (var t in tags) list.Add(t);
        return list;
    }

    private IEnumerable<Measurement<double>> Gauge(Func<JobGauges, double?> value) =>
        _jobs.Select(kv => (kv.Key, Value: value(kv.Value))).Where(j => j.Value is { } v && double.IsFinite(v))
            .Select(j => new Measurement<double>(j.Value!.Value, Tags(Tag(JobLabel, j.Key))));

    private IEnumerable<Measurement<double>> Gauge(Func<JobGauges, int?> value) => Gauge(j => (double?)value(j));

    private IEnumerable<Measurement<double>> ObserveEvaluations() =>
        _jobs.SelectMany(job => job.Value.Evaluations.Select(e => new Measurement<double>(e.Value,
            Tags(Tag(JobLabel, job.Key), Tag("set", e.Key.Set), Tag("metric", e.Key.Metric)))));

    private IEnumerable<Measurement<int>> ObserveJobs() =>
        Enum.GetValues<JobPhase>().Select(phase => new Measurement<int>(_jobs.Values.Count(j => j.Phase == phase),
            Tags(Tag("state", phase.ToString().ToLowerInvariant()))));

    private JobGauges Job(string jobId) => _jobs.GetOrAdd(jobId, _ => new JobGauges());

    public void LearningStep(string jobId, double loss, long lossTokens, long inputTokens, double seconds, double? forgettingLoss, int forgetRecords)
    {
        var job = Job(jobId);
        job.LearningLoss = loss;
        if (forgettingLoss is not null) job.ForgettingLoss = forgettingLoss;
        _tokens.Add(lossTokens, Tags(Tag(JobLabel, jobId)));
        _inputTokens.Add(inputTokens, Tags(Tag(JobLabel, jobId)));
        _optimizerSteps.Add(1, Tags(Tag(JobLabel, jobId)));
        if (forgetRecords > 0) _forgetRecords.Add(forgetRecords, Tags(Tag(JobLabel, jobId)));
        _stepDuration.Record(seconds, Tags(Tag(JobLabel, jobId)));
    }

    public void ForgettingSetChosen(string jobId, IReadOnlyList<double> confidences, int selected)
    {
        Job(jobId).ForgettingSetSize = selected;
        var tags = Tags(Tag(JobLabel, jobId));
        foreach (double c in confidences) _confidence.Record(c, tags);
    }

    public void FisherEstimated(string jobId, double mean, double max)
    {
        var job = Job(jobId);
        job.FisherMean = mean;
        job.FisherMax = max;
    }

    public void Evaluated(string jobId, string set, string metric, double value) => Job(jobId).Evaluations[(set, metric)] = value;

    public void JobPhaseChanged(string jobId, JobPhase phase) => Job(jobId).Phase = phase;

    public void BytesSent(long bytes) => _bytesMoved.Add(bytes, Tags(Tag("direction", "sent")));

    public void BytesReceived(long bytes) => _bytesMoved.Add(bytes, Tags(Tag("direction", "received")));

    public void FrameRefused() => _framesRefused.Add(1, Tags());

    public void ReplicaSynced(double seconds) => _replicaSync.Record(seconds, Tags());

    public void Recovered(string jobId, IEnumerable<(Lwf.Grains.Collectives.RecoveryStage Stage, double Seconds)> stages)
    {
        foreach (var (stage, seconds) in stages)
            _recovery.Record(seconds, Tags(Tag(JobLabel, jobId), Tag("stage", System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(stage.ToString()))));
    }

    public void ShardActivated(string jobId) => _shards.AddOrUpdate(jobId, 1, (_, n) => n + 1);

    public void ShardDeactivated(string jobId) => _shards.AddOrUpdate(jobId, 0, (_, n) => Math.Max(0, n - 1));

    public void Dispose() => _meter.Dispose();
}
