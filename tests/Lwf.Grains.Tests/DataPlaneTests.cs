using Lwf.Abstractions;
using Lwf.Silo;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace Lwf.Grains.Tests;

/// <summary>The tensor data plane over a real socket: the bytes arrive whole; what is not served falls back to grain calls.</summary>
public sealed class DataPlaneTests
{
    [Fact]
    public async Task Chunks_cross_the_data_plane_byte_for_byte_and_a_withdrawn_key_falls_back()
    {
        int port = LocalCluster.FreePorts(1)[0];
        var options = Options.Create(new LwfSiloOptions { DataPlanePort = port });
        var exchange = new TensorExchange(options, "127.0.0.1");
        using var server = new TensorWireServer(exchange, options, NullLogger<TensorWireServer>.Instance);
        await server.StartAsync(CancellationToken.None);
        try
        {
            random.manual_seed(3);
            using var a = randn(300, 1000);   // 1.2 MB: several 256 KiB chunks, the last one short
            using var b = randn(17);
            var packed = PackedTensors.Pack([("a", a), ("b", b)], chunkBytes: 256 * 1024);
            var manifest = exchange.Publish("weights.job.7", packed);
            Assert.Equal($"tcp://127.0.0.1:{port}/weights.job.7", manifest.Url);

            int fallbacks = 0;
            Task<byte[]> Fallback(int chunk) { Interlocked.Increment(ref fallbacks); return Task.FromResult(packed.Chunk(chunk)); }

            var (fetched, fellBack) = await FetchWhenListening(manifest, packed);
            Assert.False(fellBack);
            Assert.Equal(packed.Chunks.Length, fetched.Chunks.Length);
            for (int i = 0; i < packed.Chunks.Length; i++) Assert.Equal(packed.Chunks[i], fetched.Chunks[i]);
            using (var read = fetched.Read(manifest.Tensors[0])) Assert.Equal(a.bytes.ToArray(), read.bytes.ToArray());

            // A stale manifest (the next version replaced it) finds nothing on the wire and asks the grain.
            exchange.Withdraw("weights.job.7");
            var again = await PackedTensors.FetchAsync(manifest, Fallback);
            Assert.Equal(packed.Chunks.Length, fallbacks);
            Assert.Equal(packed.Chunks[^1], again.Chunks[^1]);
        }
        finally
        {
            await server.StopAsync(CancellationToken.None);
        }
    }

    // The listener starts on a background task: retry the first fetch until it accepts.
    private static async Task<(PackedTensors Fetched, bool FellBack)> FetchWhenListening(TensorManifest manifest, PackedTensors source)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            bool fellBack = false;
            var result = await PackedTensors.FetchAsync(manifest, chunk => { fellBack = true; return Task.FromResult(source.Chunk(chunk)); });
            if (!fellBack || DateTime.UtcNow > deadline) return (result, fellBack);
            await Task.Delay(100);
        }
    }
}
