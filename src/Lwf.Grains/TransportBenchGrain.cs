using System.Diagnostics;
using Lwf.Abstractions;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>
/// Measures the tensor transport between silos with the code the jobs use: <see cref="PackedTensors"/> in
/// 16 MiB byte[] chunks over the silos' HTTP data plane (or, without one, grain calls), a few in flight. Placed like shards: "bench/0" and "bench/1" land on
/// different silos.
/// </summary>
[ShardSpreadPlacement]
public sealed class TransportBenchGrain(ILocalSiloDetails silo, TensorExchange exchange) : Grain, ITransportBenchGrain
{
    private PackedTensors? _weights, _sums;
    private TensorManifest? _weightsManifest, _sumsManifest;
    private Tensor? _ownSum;

    private string Key(string what) => $"bench.{this.GetPrimaryKeyString().Replace('/', '-')}.{what}";

    public async ValueTask<string> Prepare(long bytes, int chunkBytes)
    {
        await Task.Run(() =>
        {
            using var scope = NewDisposeScope();
            long elements = bytes / 4, rows = Math.Max(1, elements / 1024);
            random.manual_seed(1);
            var weight = randn(rows, 1024);
            _weights = PackedTensors.Pack([("weight", weight)], chunkBytes: chunkBytes);
            _sums = PackedTensors.Pack([("weight", weight)], ScalarType.Float64, chunkBytes: chunkBytes);
        });
        _ownSum?.Dispose();
        _ownSum = _sums!.Read(_sums.Manifest.Tensors[0]);
        _weightsManifest = exchange.Publish(Key("weights"), _weights!);
        _sumsManifest = exchange.Publish(Key("sums"), _sums!);
        return silo.SiloAddress.ToString();
    }

    public ValueTask<TensorManifest> Weights() => new(_weightsManifest!);

    public ValueTask<byte[]> WeightChunk(int chunk) => new(_weights!.Chunk(chunk));

    public ValueTask<TensorManifest> GradientSums() => new(_sumsManifest!);

    public ValueTask<byte[]> GradientChunk(int chunk) => new(_sums!.Chunk(chunk));

    public async ValueTask<double[]> PullWeightsFrom(string other, bool grainCalls)
    {
        var source = GrainFactory.GetGrain<ITransportBenchGrain>(other);
        var clock = Stopwatch.StartNew();
        var manifest = await source.Weights();
        if (grainCalls) manifest = manifest with { Url = null };
        var packed = await PackedTensors.FetchAsync(manifest, chunk => source.WeightChunk(chunk).AsTask());
        await Task.Run(() => { using var t = packed.Read(manifest.Tensors[0]); packed.Release(); }); // into a tensor, as a replica does
        return [manifest.TotalBytes, clock.Elapsed.TotalSeconds];
    }

    public async ValueTask<double[]> ReduceFrom(string other, bool grainCalls)
    {
        var source = GrainFactory.GetGrain<ITransportBenchGrain>(other);
        var clock = Stopwatch.StartNew();
        var manifest = await source.GradientSums();
        if (grainCalls) manifest = manifest with { Url = null };
        var packed = await PackedTensors.FetchAsync(manifest, chunk => source.GradientChunk(chunk).AsTask());
        await Task.Run(() =>
        {
            using var theirs = packed.Read(manifest.Tensors[0]);
            _ownSum!.add_(theirs); // this silo's sum, a tensor already, as in the coordinator
            packed.Release();
        });
        return [manifest.TotalBytes, clock.Elapsed.TotalSeconds];
    }
}
