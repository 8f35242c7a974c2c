using Lwf.Abstractions;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Replicas;
using Lwf.Grains.Collectives;
using Lwf.Grains.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lwf.Grains.Replicas;

/// <summary>
/// One shard of a job ("job/index"): learning records and forgetting prompts with global index ≡ index (mod
/// shard count), and the samples it generated from them (also written to the job's work folder, so a shard
/// re-activated on another silo reloads them). It computes on its silo's replica; the silo's lowest-numbered shard
/// leads the silo's part of each collective operation (its shards in order, then the ring).
/// </summary>
[ShardSpreadPlacement]
public sealed partial class ShardGrain(ModelReplicas replicas, DataPlane plane, ILocalSiloDetails silo, IOptions<LwfSiloOptions> options,
    Telemetry.LwfMetrics metrics, ILogger<ShardGrain> logger)
    : Grain, IShardGrain
{
    private ShardSetup? _setup;
    private SiloReplica? _replica;
    private Dictionary<int, TokenizedRecord> _records = [];
    private List<ForgettingPrompt> _prompts = [];
    private SortedDictionary<int, SelfGeneratedSample> _samples = [];

    private string JobId => ShardKey.Parse(this.GetPrimaryKeyString()).JobId;

    private string SiloName => silo.SiloAddress.ToString();

    private string SamplesFile => Path.Combine(_setup!.WorkDirectory, $"shard-{_setup.ShardIndex:D4}.selfgen.jsonl");

    private SiloReplica Replica => _replica ?? throw new ShardNotPreparedException(this.GetPrimaryKeyString());

    private IShardGrain Shard(int index) => GrainFactory.GetGrain<IShardGrain>(new ShardKey(JobId, index).ToString());

    public async ValueTask<ShardInfo> Prepare(ShardSetup setup)
    {
        _setup = setup;
        string holder = this.GetPrimaryKeyString();
        await Task.Run(() =>
        {
            // The trainer checked the job at submit; a shard checks again, since the files may have changed since.
            var spec = options.Value.LoadJob(setup.JobFile, JobId);
            if (_replica is null) metrics.ShardActivated(JobId);
            // A replica new on this silo starts from the checkpoint, or (resuming from the replicas) from the base, and the ring
            // formation brings it to the others' state.
            var resume = setup.Resume is { Directory: { } d } r ? new ResumePoint(d, r.LearningSteps, r.HasFisher) : null;
            _replica ??= replicas.Get(JobId, spec, resume, holder);
            var encoder = _replica.Training.Encoder;
            var all = JsonlDataset.Load(spec.Data.LearnTrain, encoder, spec.SkipBadLines).Records;
            _records = Enumerable.Range(0, all.Count).Where(Owns).ToDictionary(i => i, i => all[i]);
            if (spec.Forgetting.Active)
                _prompts = SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, encoder, spec.SkipBadLines).Where(p => Owns(p.Index)).ToList();
            if (File.Exists(SamplesFile))
                _samples = new(SelfGeneration.LoadSamples(SamplesFile).Where(s => Owns(s.Index)).ToDictionary(s => s.Index));
        });
        LogPrepared(logger, holder, SiloName, _records.Count, _prompts.Count);
        return new ShardInfo(setup.ShardIndex, SiloName, _records.Count, _prompts.Count, _samples.Count, plane.Endpoint,
            _replica!.Training.Model.ParameterCount);
    }

    private bool Owns(int globalIndex) => globalIndex % _setup!.ShardCount == _setup.ShardIndex;

    /// <summary>The job ended: let go of the replica and this shard's data.</summary>
    public ValueTask Finish()
    {
        DeactivateOnIdle();
        return ValueTask.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_replica is not null)
        {
            replicas.Release(JobId, this.GetPrimaryKeyString());
            metrics.ShardDeactivated(JobId);
        }
        _replica = null;
        _records = [];
        _prompts = [];
        _samples = [];
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    public async ValueTask<SampleInfo[]> SelfGenerate()
    {
        var generated = await Replica.OnTorchAsync(r => r.SelfGenerate(_prompts));
        _samples = new(generated.ToDictionary(s => s.Index));
        SelfGeneration.SaveSamples(SamplesFile, generated);
        return generated.Select(s => new SampleInfo(s.Index, s.Source, s.PromptIds, s.ResponseIds, s.Prompt, s.Response, s.ReferenceLogLikelihood)).ToArray();
    }

    public async ValueTask<ShardScores> Score()
    {
        var indices = _samples.Keys.ToArray();
        var scores = await Replica.OnTorchAsync(r => r.Score(indices, _samples.Values.Select(s => s.ToRecord()).ToList()));
        return new ShardScores(indices, scores);
    }

    public async ValueTask<int> Accumulate(string operationId, WorkKind kind, int[] indices, int[] sampleIndices)
    {
        var replica = Replica;
        return await replica.OnTorchAsync(r =>
        {
            switch (kind)
            {
                case WorkKind.LearningGradient:
                {
                    // Learning records first, then the forgetting records, as one process adds them.
                    var mine = indices.Where(_records.ContainsKey).Select(i => _records[i]).ToList();
                    if (mine.Count > 0) r.AddLearningGradient(replica.Gradient(operationId), mine);
                    var forget = sampleIndices.Where(_samples.ContainsKey).Select(i => _samples[i].ToForgettingRecord()).ToList();
                    if (forget.Count > 0) r.AddForgettingGradient(replica.Gradient(operationId), forget);
                    return mine.Count + forget.Count;
                }
                case WorkKind.Fisher:
                {
                    var mine = indices.Where(_records.ContainsKey).Select(i => (i, _records[i])).ToList();
                    if (mine.Count > 0) r.AddFisher(replica.FisherSums(operationId), mine);
                    return mine.Count;
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown work kind");
            }
        });
    }

    public async ValueTask<ReducedTotals> Reduce(SiloWork work)
    {
        var replica = Replica;
        // The step's sums are allocated on the torch thread, like every other torch op of the replica.
        var abort = await TorchThread.RunAsync(() => replica.Begin(work.OperationId, work.Kind, work.Involved));
        try
        {
            // The silo's shards add into one set of sums, in index order: a layout always sums in the same order.
            foreach (int shard in work.LocalShards.Order())
            {
                if (shard == _setup!.ShardIndex) await Accumulate(work.OperationId, work.Kind, work.Indices, work.SampleIndices);
                else await Shard(shard).Accumulate(work.OperationId, work.Kind, work.Indices, work.SampleIndices);
            }
            var o = options.Value;
            var collective = new RingCollective(plane, work.Ring, FrameKeys.Collective(JobId, work.Ring.Epoch, work.OperationId),
                TimeSpan.FromSeconds(o.CollectiveTimeoutSeconds), o.BucketMiB << 20, abort, metrics);
            try
            {
                if (work.Kind == WorkKind.Fisher)
                {
                    var sums = replica.FisherSums(work.OperationId);
                    var (mean, max) = await replica.OnTorchAsync(r => r.ReduceFisherAsync(sums, collective, abort));
                    return new ReducedTotals(0, 0, 0, (int)sums.Count, mean, max);
                }
                var gradient = replica.Gradient(work.OperationId);
                var (totals, records, forgetRecords) = await replica.OnTorchAsync(r => r.ReduceAsync(gradient, collective, abort));
                replica.Reduced = (work.OperationId, totals, records, forgetRecords);
                return new ReducedTotals(totals.NllSum, totals.LossTokens, totals.InputTokens, records,
                    ForgetNllSum: totals.ForgetNllSum, ForgetTokens: totals.ForgetTokens, ForgetRecords: forgetRecords);
            }
            catch (Exception) when (abort.IsCancellationRequested)
            {
                plane.Discard(collective.KeyPrefix);
                throw new OperationCanceledException($"operation {work.OperationId} was aborted (a peer of the ring failed)");
            }
        }
        finally
        {
            replica.End(work.OperationId);
        }
    }

    public async ValueTask<StepOutcome> Apply(string operationId)
    {
        var replica = Replica;
        if (replica.Reduced is not { } reduced || reduced.Operation != operationId)
            throw new InvalidOperationException($"operation {operationId} was not reduced on this silo");
        replica.Reduced = null;
        return await replica.OnTorchAsync(r =>
        {
            var step = r.ApplyLearning(reduced.Totals, reduced.Records, reduced.ForgetRecords);
            return new StepOutcome(step.Step, step.Loss, step.LearningRate, step.GradNorm, step.LossTokens, step.InputTokens, step.Records,
                step.ForgettingLoss, step.ForgetRecords);
        });
    }

    public async ValueTask<string> WeightsHash() => await Replica.OnTorchAsync(r => r.WeightsHash());

    public ValueTask Abort(string operationId)
    {
        _replica?.Abort(operationId);
        return ValueTask.CompletedTask;
    }

    public async ValueTask<EvalOutcome[]> Evaluate(int rank, int worldSize) =>
        await Replica.OnTorchAsync(r => Enumerable.Range(0, r.EvalSets.Count).Where(i => i % worldSize == rank).Select(i =>
        {
            var result = r.Evaluate(i);
            return new EvalOutcome(i, result.Set, result.Metric, result.Value, result.Count);
        }).ToArray());

    public ValueTask<ReplicaPosition> Position()
    {
        var (learning, hasFisher) = Replica.Training.Position;
        return new(new ReplicaPosition(learning, hasFisher));
    }

    public async ValueTask SaveState(string directory, bool modelOnly) =>
        await Replica.OnTorchAsync(r =>
        {
            if (modelOnly) r.SaveModel(directory);
            else r.SaveState(directory);
            return 0;
        });

    public async ValueTask LoadState(string directory, ReplicaPosition position) =>
        await Replica.OnTorchAsync(r =>
        {
            r.LoadState(new ResumePoint(directory, position.LearningSteps, position.HasFisher));
            return 0;
        });

    public async ValueTask Restart() =>
        await Replica.OnTorchAsync(r =>
        {
            r.Restart();
            return 0;
        });

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard} on {Silo}: {Records} learning records, {Prompts} forgetting prompts")]
    private static partial void LogPrepared(ILogger logger, string shard, string silo, int records, int prompts);
}
