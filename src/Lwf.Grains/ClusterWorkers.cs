using Lwf.Abstractions;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using static TorchSharp.torch;
using Lwf.Core.Training;

namespace Lwf.Grains;

/// <summary>
/// The pipeline's per-record work on the cluster's shards, for the trainer: publishes the trainer's weights
/// (and Fisher) as versioned snapshots the silos' replicas pull, sends plans through the coordinator, and
/// writes the reduced gradient sums into the trainer model's .grad.
/// </summary>
/// <remarks>
/// Versions and operation ids carry the trainer's incarnation in their high bits, so that replicas and silo
/// reducers that outlived a dead trainer never take a resumed trainer's version 5 for the old one's.
/// </remarks>
public sealed class ClusterWorkers(IGrainFactory grains, TensorExchange exchange, string jobId, int incarnation, TrainerContext context, int shardCount, string workDirectory)
    : IPipelineWorkers
{
    private readonly object _gate = new();
    private PackedTensors? _weights, _fisher;
    private TensorManifest? _weightsManifest, _fisherManifest;
    private long _operation;
    private int _shardSamples;

    private ICoordinatorGrain Coordinator => grains.GetGrain<ICoordinatorGrain>(jobId);

    /// <summary>The weights' version: bumped by every optimiser step.</summary>
    public long Version { get; private set; } = ((long)incarnation << 32) + 1;

    public long FisherVersion { get; private set; } = (long)incarnation << 32;

    public IReadOnlyDictionary<string, int> ShardsPerSilo { get; private set; } = new Dictionary<string, int>();

    /// <summary>Set when the trainer deactivates mid-job: disposing then leaves the shards alone.</summary>
    public bool HandingOver { get; set; }

    /// <summary>The current weights, packed once per version (asked for by each silo's replica).</summary>
    public PackedTensors Weights(long version)
    {
        lock (_gate)
        {
            if (version != Version) throw new InvalidOperationException($"weights version {version} was asked for; the trainer is at {Version}");
            return _weights ??= PackedTensors.Pack(context.Model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        }
    }

    /// <summary>The manifest of a weights version, published on the silo's data plane under a key naming the version.</summary>
    public TensorManifest WeightsManifest(long version)
    {
        var packed = Weights(version);
        lock (_gate) return _weightsManifest ??= exchange.Publish($"weights.{jobId}.{version}", packed);
    }

    public TensorManifest FisherManifest(long version)
    {
        var packed = Fisher(version);
        lock (_gate) return _fisherManifest ??= exchange.Publish($"fisher.{jobId}.{version}", packed);
    }

    public PackedTensors Fisher(long version)
    {
        lock (_gate)
        {
            if (version != FisherVersion || _fisher is null) throw new InvalidOperationException($"Fisher version {version} is not published (current {FisherVersion})");
            return _fisher;
        }
    }

    public async Task<int> PrepareAsync(CancellationToken cancellation)
    {
        Directory.CreateDirectory(workDirectory);
        var infos = await Coordinator.Prepare(context.Spec.SourcePath, shardCount, workDirectory);
        ShardsPerSilo = infos.GroupBy(i => i.Silo).ToDictionary(g => g.Key, g => g.Count());
        _shardSamples = infos.Sum(i => i.Samples);
        return infos.Sum(i => i.LearningRecords);
    }

    /// <summary>The shards reload their samples from the job's work folder when prepared; this checks that they all did.</summary>
    public Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation)
    {
        if (_shardSamples != samples.Count)
            throw new InvalidOperationException($"the shards hold {_shardSamples} self-generated samples, the checkpoint {samples.Count}: " +
                $"sample files are missing from {workDirectory}");
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation)
    {
        context.Progress("self-generation", 0, 1);
        var samples = await Coordinator.SelfGenerate(Version);
        context.Progress("self-generation", 1, 1);
        return samples.Select(s => new SelfGeneratedSample(s.Index, s.Source, s.PromptIds, s.ResponseIds, s.Prompt, s.Response)).ToList();
    }

    public async Task<FisherAccumulator> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation)
    {
        context.Progress("fisher", 0, recordIndices.Count);
        var packed = await ReduceAsync(WorkKind.Fisher, recordIndices);
        context.Progress("fisher", recordIndices.Count, recordIndices.Count);
        return await Task.Run(() =>
        {
            using var scope = NewDisposeScope();
            var tensors = packed.ReadAll().ToDictionary(t => t.Name, t => t.Tensor);
            var accumulator = FisherAccumulator.For(context.Model);
            packed.Release();
            if (tensors.Count > 0) accumulator.AddSums(n => (tensors["sq." + n], tensors["sum." + n]), (long)packed.Manifest.Scalars["count"]);
            return accumulator;
        });
    }

    public async Task<double[]> ScoreAsync(FisherEstimate? fisher, CancellationToken cancellation)
    {
        if (fisher is not null)
        {
            var packed = await Task.Run(() => FisherTransport.Pack(fisher));
            lock (_gate)
            {
                exchange.Withdraw($"fisher.{jobId}.{FisherVersion}");
                _fisher = packed;
                _fisherManifest = null;
                FisherVersion++;
            }
        }
        context.Progress("confidence", 0, 1);
        var scores = await Coordinator.Score(Version, fisher is null ? 0 : FisherVersion);
        context.Progress("confidence", scores.Scores.Length, scores.Scores.Length);
        return scores.Scores;
    }

    public Task<GradientTotals> LearningGradientAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation) =>
        GradientAsync(WorkKind.LearningGradient, recordIndices);

    public Task<GradientTotals> ForgettingGradientAsync(IReadOnlyList<int> sampleIndices, ForgettingLossKind kind, CancellationToken cancellation) =>
        GradientAsync(WorkKind.ForgettingGradient, sampleIndices);

    private async Task<GradientTotals> GradientAsync(WorkKind kind, IReadOnlyList<int> indices)
    {
        var packed = await ReduceAsync(kind, indices);
        await Task.Run(() =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var sums = packed.ReadAll().ToDictionary(t => t.Name, t => t.Tensor);
            packed.Release();
            foreach (var (name, p) in context.Model.named_parameters())
                p.grad = sums[name].to(p.dtype).to(p.device); // the parameter keeps its own reference
        });
        var scalars = packed.Manifest.Scalars;
        return new GradientTotals(scalars["nll"], (long)scalars["tokens"], (long)scalars["inputs"]);
    }

    private async Task<PackedTensors> ReduceAsync(WorkKind kind, IReadOnlyList<int> indices)
    {
        string operation = $"{jobId}:{incarnation}:{kind}:{Interlocked.Increment(ref _operation)}";
        var coordinator = Coordinator;
        var manifest = await coordinator.Reduce(new WorkPlan(operation, kind, Version, indices.ToArray()));
        return await PackedTensors.FetchAsync(manifest, chunk => coordinator.GetReducedChunk(operation, chunk).AsTask());
    }

    public void WeightsChanged()
    {
        lock (_gate)
        {
            exchange.Withdraw($"weights.{jobId}.{Version}");
            Version++;
            _weights = null;
            _weightsManifest = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            exchange.Withdraw($"weights.{jobId}.{Version}");
            exchange.Withdraw($"fisher.{jobId}.{FisherVersion}");
        }
        // Best effort: a shard on a silo that is gone or stopping has nothing left to free. A trainer handing the
        // job over (its silo stops) leaves the shards to the next activation, which prepares them again.
        if (HandingOver) return;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, shardCount).Select(i => grains.GetGrain<IShardGrain>($"{jobId}/{i}").Finish().AsTask()))
                .WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
        }
    }
}
