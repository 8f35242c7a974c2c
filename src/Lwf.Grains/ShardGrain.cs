using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using Lwf.Core.Training;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>
/// One shard of a job ("job/index"): learning records and forgetting prompts with global index ≡ index
/// (mod shard count), and the samples it generated from them (also written to the job's work folder, so a
/// shard re-activated on another silo reloads them). Its torch work runs on the silo's shared replica,
/// off the Orleans scheduler; its sums are deposited on the silo for one transfer per silo.
/// </summary>
[ShardSpreadPlacement]
public sealed partial class ShardGrain(ModelReplicas replicas, SiloReducer reducer, ILocalSiloDetails silo, Telemetry.LwfMetrics metrics, ILogger<ShardGrain> logger)
    : Grain, IShardGrain
{
    private ShardSetup? _setup;
    private ModelReplica? _replica;
    private Dictionary<int, TokenizedRecord> _records = [];
    private List<ForgettingPrompt> _prompts = [];
    private SortedDictionary<int, SelfGeneratedSample> _samples = [];

    private string JobId => this.GetPrimaryKeyString().Split('/')[0];

    private string SiloName => silo.SiloAddress.ToString();

    private string SamplesFile => Path.Combine(_setup!.WorkDirectory, $"shard-{_setup.ShardIndex:D4}.selfgen.jsonl");

    public async ValueTask<ShardInfo> Prepare(ShardSetup setup)
    {
        _setup = setup;
        await Task.Run(() =>
        {
            var spec = JobSpec.Load(setup.JobFile);
            if (_replica is null) metrics.ShardActivated(JobId);
            _replica ??= replicas.Get(JobId, spec, this.GetPrimaryKeyString());
            var all = JsonlDataset.Load(spec.Data.LearnTrain, _replica.Encoder, spec.SkipBadLines).Records;
            _records = Enumerable.Range(0, all.Count).Where(Owns).ToDictionary(i => i, i => all[i]);
            if (spec.Forgetting.Active)
                _prompts = SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, _replica.Encoder, spec.SkipBadLines).Where(p => Owns(p.Index)).ToList();
            if (File.Exists(SamplesFile))
                _samples = new(SelfGeneration.LoadSamples(SamplesFile).Where(s => Owns(s.Index)).ToDictionary(s => s.Index));
        });
        LogPrepared(logger, this.GetPrimaryKeyString(), SiloName, _records.Count, _prompts.Count);
        return Info();
    }

    private bool Owns(int globalIndex) => globalIndex % _setup!.ShardCount == _setup.ShardIndex;

    private ShardInfo Info() => new(_setup!.ShardIndex, SiloName, _records.Count, _prompts.Count, _samples.Count);

    private ModelReplica Replica => _replica ?? throw new ShardNotPreparedException(this.GetPrimaryKeyString());

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

    public async ValueTask<SampleInfo[]> SelfGenerate(long modelVersion)
    {
        var replica = Replica;
        await replica.EnsureWeightsAsync(modelVersion);
        var generated = await OnReplica(replica, () => SelfGeneration.Generate(replica.Model, replica.Tokenizer, _prompts, replica.Spec.SelfGen));
        _samples = new(generated.ToDictionary(s => s.Index));
        SelfGeneration.SaveSamples(SamplesFile, generated);
        return generated.Select(s => new SampleInfo(s.Index, s.Source, s.PromptIds, s.ResponseIds, s.Prompt, s.Response)).ToArray();
    }

    public async ValueTask<Deposit> Work(WorkPlan plan)
    {
        var replica = Replica;
        await replica.EnsureWeightsAsync(plan.ModelVersion);
        var spec = replica.Spec;
        var sums = await OnReplica(replica, () =>
        {
            var model = replica.Model;
            switch (plan.Kind)
            {
                case WorkKind.LearningGradient:
                {
                    var mine = plan.Indices.Where(_records.ContainsKey).Select(i => _records[i]).ToList();
                    if (mine.Count == 0) return null;
                    return Deposit(LearningGradient.Accumulate(model, LearningGradient.MicroBatches(mine, spec.Train.MicroBatchSize), replica.PadId));
                }
                case WorkKind.ForgettingGradient:
                {
                    var mine = plan.Indices.Where(_samples.ContainsKey).Select(i => _samples[i].ToRecord()).ToList();
                    if (mine.Count == 0) return null;
                    return Deposit(ForgettingGradient.Accumulate(model, LearningGradient.MicroBatches(mine, spec.Train.MicroBatchSize),
                        spec.Forgetting.Step.Loss, replica.PadId));
                }
                case WorkKind.Fisher:
                {
                    var mine = plan.Indices.Where(_records.ContainsKey).Select(i => (i, _records[i])).ToList();
                    if (mine.Count == 0) return null;
                    using var accumulator = FisherAccumulator.For(model);
                    accumulator.Accumulate(model, mine, spec.Fisher.Variant, spec.Seed);
                    var tensors = accumulator.Names.Select(n => ("sq." + n, accumulator.SumSquares(n).cpu().clone().DetachFromDisposeScope()))
                        .Concat(accumulator.Names.Select(n => ("sum." + n, accumulator.Sum(n).cpu().clone().DetachFromDisposeScope())))
                        .ToList();
                    return new ShardSums(tensors, new Dictionary<string, double> { ["count"] = accumulator.Count, ["items"] = mine.Count });
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(plan), plan.Kind, "unknown work kind");
            }
        });
        if (sums is null) return new Deposit(_setup!.ShardIndex, SiloName, 0);
        reducer.Deposit(plan.OperationId, _setup!.ShardIndex, sums);
        return new Deposit(_setup.ShardIndex, SiloName, (int)sums.Scalars["items"]);
    }

    // The float64 sums leave as they are: no rounding to float32 before the silos' sums are added.
    private static ShardSums Deposit(GradientSums sums)
    {
        var tensors = sums.Sums.Select(kv => (kv.Key, kv.Value.cpu().clone().DetachFromDisposeScope())).ToList();
        var result = new ShardSums(tensors, new Dictionary<string, double> { ["nll"] = sums.NllSum, ["tokens"] = sums.Tokens, ["inputs"] = sums.InputTokens, ["items"] = sums.Records });
        sums.Dispose();
        return result;
    }

    public ValueTask<TensorManifest> ExportSiloSum(string operationId, int[] shardIndices) =>
        new(Task.Run(() => reducer.Export(operationId, shardIndices)));

    public ValueTask<byte[]> GetSiloSumChunk(string operationId, int chunk) => new(reducer.ExportChunk(operationId, chunk));

    public async ValueTask<ShardScores> Score(long modelVersion, long fisherVersion)
    {
        var replica = Replica;
        await replica.EnsureWeightsAsync(modelVersion);
        await replica.EnsureFisherAsync(fisherVersion);
        var indices = _samples.Keys.ToArray();
        var scores = await OnReplica(replica, () =>
        {
            var spec = replica.Spec;
            if (spec.Forgetting.Scorer == ForgettingScorer.Random)
                return indices.Select(i => ForgettingConfidence.RandomScore(spec.Seed, i)).ToArray();
            return ForgettingConfidence.Score(replica.Model, _samples.Values.Select(s => s.ToRecord()).ToList(), spec.Forgetting.Scorer,
                replica.Fisher, spec.Seed);
        });
        return new ShardScores(indices, scores);
    }

    /// <summary>Torch work: one shard at a time on the replica, on a thread-pool thread.</summary>
    private static async Task<T> OnReplica<T>(ModelReplica replica, Func<T> work)
    {
        await replica.Gate.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(replica.IsDisposed, replica);
            return await Task.Run(work);
        }
        finally
        {
            replica.Gate.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shard {Shard} on {Silo}: {Records} learning records, {Prompts} forgetting prompts")]
    private static partial void LogPrepared(ILogger logger, string shard, string silo, int records, int prompts);
}

/// <summary>The shard was activated without its setup (new, or re-activated on another silo): prepare it again.</summary>
[GenerateSerializer]
public sealed class ShardNotPreparedException : Exception
{
    public ShardNotPreparedException() { }
    public ShardNotPreparedException(string shard) : base($"shard {shard} is not prepared") { }
}
