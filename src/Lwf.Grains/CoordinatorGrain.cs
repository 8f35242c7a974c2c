using System.Collections.Concurrent;
using Lwf.Abstractions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Placement;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>
/// Executes a plan over all of a job's shards and reduces the results: shards deposit sums on their silo,
/// one shard per silo exports that silo's sum, and the silos' float64 sums are added in silo order. A shard
/// that fails (its silo died, it moved) is prepared again and the operation retried. Lives beside the trainer.
/// </summary>
[PreferLocalPlacement]
public sealed partial class CoordinatorGrain(TensorExchange exchange, IHostApplicationLifetime lifetime, ILogger<CoordinatorGrain> logger)
    : Grain, ICoordinatorGrain
{
    // A dead silo is declared dead by membership within tens of seconds: keep retrying that long.
    private const int Attempts = 40;
    private readonly ConcurrentDictionary<string, PackedTensors> _reduced = new();
    private string _jobFile = "", _workDirectory = "";
    private int _shardCount;
    private Dictionary<int, string> _siloOf = [];

    private string JobId => this.GetPrimaryKeyString();

    private IShardGrain Shard(int index) => GrainFactory.GetGrain<IShardGrain>($"{JobId}/{index}");

    public async ValueTask<ShardInfo[]> Prepare(string jobFile, int shardCount, string workDirectory)
    {
        _jobFile = jobFile;
        _shardCount = shardCount;
        _workDirectory = workDirectory;
        var infos = await Task.WhenAll(Enumerable.Range(0, shardCount).Select(PrepareShard));
        return infos;
    }

    private async Task<ShardInfo> PrepareShard(int index)
    {
        var info = await Shard(index).Prepare(new ShardSetup(_jobFile, index, _shardCount, _workDirectory));
        _siloOf[index] = info.Silo;
        return info;
    }

    public async ValueTask<SampleInfo[]> SelfGenerate(long modelVersion)
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, _shardCount).Select(i => WithRetry(i, () => Shard(i).SelfGenerate(modelVersion).AsTask())));
        return parts.SelectMany(p => p).OrderBy(s => s.Index).ToArray();
    }

    public async ValueTask<ShardScores> Score(long modelVersion, long fisherVersion)
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, _shardCount).Select(i => WithRetry(i, () => Shard(i).Score(modelVersion, fisherVersion).AsTask())));
        var all = parts.SelectMany(p => p.SampleIndices.Zip(p.Scores)).OrderBy(x => x.First).ToArray();
        return new ShardScores(all.Select(x => x.First).ToArray(), all.Select(x => x.Second).ToArray());
    }

    public async ValueTask<TensorManifest> Reduce(WorkPlan plan)
    {
        for (int attempt = 1; ; attempt++)
        {
            var operation = plan with { OperationId = $"{plan.OperationId}#{attempt}" };
            try
            {
                var deposits = await Task.WhenAll(Enumerable.Range(0, _shardCount).Select(i => WithRetry(i, () => Shard(i).Work(operation).AsTask())));
                var silos = deposits.Where(d => d.Items > 0).GroupBy(d => d.Silo).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
                var siloSums = new List<PackedTensors>();
                foreach (var group in silos)
                {
                    var shards = group.Select(d => d.ShardIndex).Order().ToArray();
                    var reporter = Shard(shards[0]);
                    var manifest = await reporter.ExportSiloSum(operation.OperationId, shards);
                    siloSums.Add(await PackedTensors.FetchAsync(manifest, chunk => reporter.GetSiloSumChunk(operation.OperationId, chunk).AsTask()));
                }
                var reduced = await Task.Run(() => AddUp(siloSums));
                foreach (var old in _reduced.Keys) exchange.Withdraw(ReducedKey(old));
                _reduced.Clear();
                _reduced[plan.OperationId] = reduced;
                return exchange.Publish(ReducedKey(plan.OperationId), reduced);
            }
            catch (Exception e) when (attempt < Attempts && e is not ArgumentException && !Stopping)
            {
                LogRetry(logger, JobId, plan.OperationId, attempt, e.Message);
                await Task.Delay(Backoff(attempt));
            }
        }
    }

    // This silo is shutting down: its trainer hands the job over, so retrying here only delays the shutdown.
    private bool Stopping => lifetime.ApplicationStopping.IsCancellationRequested;

    private static string ReducedKey(string operationId) => $"reduced.{operationId}";

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        foreach (var old in _reduced.Keys) exchange.Withdraw(ReducedKey(old));
        return base.OnDeactivateAsync(reason, cancellationToken);
    }

    private static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(Math.Min(3000, 200 * attempt));

    public ValueTask<byte[]> GetReducedChunk(string operationId, int chunk) =>
        _reduced.TryGetValue(operationId, out var packed) ? new(packed.Chunk(chunk))
            : throw new InvalidOperationException($"operation {operationId} has no reduced result");

    public ValueTask<IReadOnlyDictionary<string, int>> ShardsPerSilo() =>
        new(_siloOf.Values.GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count()) as IReadOnlyDictionary<string, int>);

    // Silo sums are float64, so their order does not change the float32 result the trainer uses.
    private static PackedTensors AddUp(List<PackedTensors> silos)
    {
        using var scope = NewDisposeScope();
        var parts = silos.Select(s => new ShardSums(s.ReadAll().ToList(), new Dictionary<string, double>(s.Manifest.Scalars))).ToList();
        foreach (var silo in silos) silo.Release();
        return PackedTensors.Pack(SiloReducer.Sum(parts, out var scalars), ScalarType.Float64, scalars);
    }

    /// <summary>Calls a shard; if it fails, prepares it again (it may have moved to another silo) and retries.</summary>
    private async Task<T> WithRetry<T>(int shard, Func<Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < Attempts && e is not ArgumentException && !Stopping)
            {
                LogShardRetry(logger, JobId, shard, attempt, e.Message);
                await Task.Delay(Backoff(attempt));
                try { await PrepareShard(shard); } catch (Exception) when (attempt < Attempts - 1) { }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: operation {Operation} failed (attempt {Attempt}): {Reason}; retrying")]
    private static partial void LogRetry(ILogger logger, string jobId, string operation, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: shard {Shard} failed (attempt {Attempt}): {Reason}; preparing it again")]
    private static partial void LogShardRetry(ILogger logger, string jobId, int shard, int attempt, string reason);
}
