using Lwf.Abstractions;
using System.Collections.Concurrent;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>A shard's contribution to an operation: float64 sums on the CPU, plus scalar sums.</summary>
public sealed class ShardSums(List<(string Name, Tensor Sum)> tensors, Dictionary<string, double> scalars) : IDisposable
{
    public List<(string Name, Tensor Sum)> Tensors => tensors;
    public Dictionary<string, double> Scalars => scalars;

    public void Dispose()
    {
        foreach (var (_, t) in tensors) t.Dispose();
    }
}

/// <summary>
/// Per silo: collects the shards' sums of an operation and adds them up in shard order, so only one
/// transfer per silo leaves it. Sums are float64, so adding silos' sums in any order gives the same float32
/// result: the reduction does not depend on where the shards were placed.
/// </summary>
public sealed class SiloReducer(TensorExchange exchange)
{
    private const int KeptExports = 8;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<int, ShardSums>> _deposits = new();
    private readonly ConcurrentDictionary<string, PackedTensors> _exports = new();
    private readonly ConcurrentQueue<string> _exportOrder = new();

    public void Deposit(string operationId, int shard, ShardSums sums)
    {
        var byShard = _deposits.GetOrAdd(operationId, _ => new());
        if (byShard.TryGetValue(shard, out var old)) old.Dispose(); // a retried shard replaces its deposit
        byShard[shard] = sums;
    }

    /// <summary>Sums the listed shards' deposits (in index order) and keeps them packed for chunked export, published on the data plane.</summary>
    public TensorManifest Export(string operationId, int[] shards)
    {
        if (_exports.TryGetValue(operationId, out var done)) return exchange.Publish(ExportKey(operationId), done);
        if (!_deposits.TryRemove(operationId, out var byShard))
            throw new InvalidOperationException($"operation {operationId}: nothing was deposited on this silo");
        try
        {
            var missing = shards.Where(s => !byShard.ContainsKey(s)).ToArray();
            if (missing.Length > 0) throw new InvalidOperationException($"operation {operationId}: shards {string.Join(",", missing)} did not deposit here");
            var packed = PackedTensors.Pack(Sum(shards.Order().Select(s => byShard[s]).ToList(), out var scalars), ScalarType.Float64, scalars);
            _exports[operationId] = packed;
            _exportOrder.Enqueue(operationId);
            while (_exportOrder.Count > KeptExports && _exportOrder.TryDequeue(out var old))
            {
                _exports.TryRemove(old, out _);
                exchange.Withdraw(ExportKey(old));
            }
            return exchange.Publish(ExportKey(operationId), packed);
        }
        finally
        {
            foreach (var sums in byShard.Values) sums.Dispose();
        }
    }

    private static string ExportKey(string operationId) => $"silo-sum.{operationId}";

    public byte[] ExportChunk(string operationId, int chunk) =>
        _exports.TryGetValue(operationId, out var packed) ? packed.Chunk(chunk)
            : throw new InvalidOperationException($"operation {operationId}: no export on this silo");

    /// <summary>Adds sums tensor by tensor in list order (float64): a silo's shards here, the silos' sums in the coordinator.</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> Sum(IReadOnlyList<ShardSums> parts, out Dictionary<string, double> scalars)
    {
        scalars = new Dictionary<string, double>();
        foreach (var part in parts)
            foreach (var (k, v) in part.Scalars) scalars[k] = scalars.GetValueOrDefault(k) + v;
        var result = new List<(string, Tensor)>();
        if (parts.Count == 0) return result;
        for (int i = 0; i < parts[0].Tensors.Count; i++)
        {
            var (name, first) = parts[0].Tensors[i];
            var total = first.clone();
            foreach (var part in parts.Skip(1)) total.add_(part.Tensors[i].Sum);
            result.Add((name, total));
        }
        return result;
    }
}
