using System.Net.Sockets;
using Lwf.Abstractions;
using Lwf.Grains.Collectives;
using Lwf.Grains.Transport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace Lwf.Grains.Tests;

/// <summary>
/// The ring all-reduce over real data planes, against sums computed directly. Planes in one process hand frames over
/// in memory; the socket path between processes is what the multi-process tests and `lwf bench allreduce` run.
/// </summary>
public sealed class RingAllReduceTests
{
    private static async Task<List<DataPlane>> Planes(int n, int readTimeoutSeconds = 30, int maxConnections = 256)
    {
        var planes = new List<DataPlane>();
        for (int i = 0; i < n; i++)
        {
            var plane = new DataPlane(Options.Create(new LwfSiloOptions
                {
                    DataPlaneHost = "127.0.0.1", DataPlaneReadTimeoutSeconds = readTimeoutSeconds, DataPlaneMaxConnections = maxConnections,
                }), new Telemetry.LwfMetrics($"test-{i}"),
                NullLogger<DataPlane>.Instance);
            await plane.StartAsync(CancellationToken.None);
            planes.Add(plane);
        }
        return planes;
    }

    /// <summary>Every rank's tensors: float32 and float64, sizes that do not divide evenly, one larger than a bucket, one reduced in place (≥ 1 MiB).</summary>
    private static List<Tensor> Inputs(int rank, bool integers)
    {
        var generator = new Generator((ulong)(100 + rank));
        Tensor Make(long n, ScalarType dtype) => integers
            ? randint(-1000, 1000, [n], generator: generator).to(dtype)
            : randn([n], generator: generator).to(dtype);
        return [Make(70_001, ScalarType.Float32), Make(13, ScalarType.Float32), Make(5_003, ScalarType.Float64), Make(1, ScalarType.Float32), Make(300_001, ScalarType.Float32)];
    }

    private static async Task<(List<List<Tensor>> Tensors, List<double[]> Scalars)> AllReduce(List<DataPlane> planes, bool integers, string op, int bucketBytes)
    {
        int n = planes.Count;
        var endpoints = planes.Select(p => p.Endpoint).ToArray();
        var tensors = Enumerable.Range(0, n).Select(r => Inputs(r, integers)).ToList();
        var scalars = Enumerable.Range(0, n).Select(r => new[] { r + 0.5, 10.0 * r }).ToList();
        await Task.WhenAll(Enumerable.Range(0, n).Select(r => Task.Run(() =>
            new RingCollective(planes[r], new RingLayout(1, r, endpoints), op, TimeSpan.FromSeconds(30), bucketBytes, CancellationToken.None)
                .AllReduceAsync(tensors[r], scalars[r], CancellationToken.None))));
        return (tensors, scalars);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Every_rank_ends_with_the_sum_and_two_runs_are_bit_identical(int n)
    {
        var planes = await Planes(n);
        try
        {
            // Integer values: every order of addition is exact, so each rank must hold exactly the direct sum.
            var (exact, exactScalars) = await AllReduce(planes, integers: true, "exact", bucketBytes: 64 * 1024);
            var expected = Enumerable.Range(0, 5).Select(i => Enumerable.Range(0, n).Select(r => Inputs(r, true)[i]).Aggregate((a, b) => a + b)).ToList();
            for (int r = 0; r < n; r++)
            {
                for (int i = 0; i < 5; i++) Assert.True(exact[r][i].allclose(expected[i], 0, 0), $"rank {r}, tensor {i}: not the sum");
                Assert.Equal(Enumerable.Range(0, n).Sum(k => k + 0.5), exactScalars[r][0]);
                Assert.Equal(Enumerable.Range(0, n).Sum(k => 10.0 * k), exactScalars[r][1]);
            }
            // Real values: within rounding of the direct sum, the same on every rank, and bit-identical on a rerun.
            var (first, _) = await AllReduce(planes, integers: false, "real-1", bucketBytes: 64 * 1024);
            var (second, _) = await AllReduce(planes, integers: false, "real-2", bucketBytes: 64 * 1024);
            var direct = Enumerable.Range(0, 5).Select(i => Enumerable.Range(0, n).Select(r => Inputs(r, false)[i].to(ScalarType.Float64)).Aggregate((a, b) => a + b)).ToList();
            for (int r = 0; r < n; r++)
                for (int i = 0; i < 5; i++)
                {
                    Assert.True(first[r][i].allclose(first[0][i], 0, 0), $"rank {r}, tensor {i} differs from rank 0");
                    Assert.True(first[r][i].allclose(second[r][i], 0, 0), $"rank {r}, tensor {i}: two runs differ");
                    Assert.True(first[r][i].to(ScalarType.Float64).allclose(direct[i], rtol: 1e-5, atol: 1e-5), $"rank {r}, tensor {i}: off the direct sum");
                }
            Assert.All(planes, p => Assert.Equal(0, p.Parked)); // nothing left behind
        }
        finally
        {
            foreach (var p in planes) p.Dispose();
        }
    }

    [Fact]
    public async Task A_peer_that_never_sends_ends_the_collective_with_a_clear_error_and_an_abort_ends_it_at_once()
    {
        var planes = await Planes(2);
        try
        {
            var endpoints = planes.Select(p => p.Endpoint).ToArray();
            using var t = ones(1000);
            // Rank 1 never takes part: rank 0's wait for its bytes ends at the timeout, naming the step.
            var lonely = new RingCollective(planes[0], new RingLayout(1, 0, endpoints), "job/e1/op", TimeSpan.FromSeconds(2), 1 << 20, CancellationToken.None);
            var error = await Assert.ThrowsAsync<TimeoutException>(() => lonely.AllReduceAsync([t], [], CancellationToken.None));
            Assert.Contains("stopped answering", error.Message);
            // An abort (the coordinator saw another member fail) ends the wait without the timeout.
            using var abort = new CancellationTokenSource();
            var waiting = new RingCollective(planes[0], new RingLayout(1, 0, endpoints), "job/e1/op2", TimeSpan.FromMinutes(5), 1 << 20, abort.Token)
                .AllReduceAsync([t], [], CancellationToken.None);
            await Task.Delay(200);
            abort.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            foreach (var p in planes) p.Dispose();
        }
    }

    [Fact]
    public async Task A_garbage_frame_drops_that_connection_and_the_data_plane_goes_on()
    {
        var planes = await Planes(2);
        try
        {
            var endpoint = planes[1].Endpoint;
            int port = int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..]);
            using (var raw = new TcpClient())
            {
                await raw.ConnectAsync("127.0.0.1", port);
                await raw.GetStream().WriteAsync(new byte[] { 0xff, 0xff, 0xff, 0x7f, 1, 2, 3 }); // a 2 GiB key
                // The silo closes (or resets) that connection.
                try { Assert.Equal(0, await raw.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(TimeSpan.FromSeconds(10))); }
                catch (IOException) { }
            }
            var (sums, _) = await AllReduce(planes, integers: true, "after", bucketBytes: 1 << 20);
            Assert.True(sums[0][0].allclose(Inputs(0, true)[0] + Inputs(1, true)[0], 0, 0));
        }
        finally
        {
            foreach (var p in planes) p.Dispose();
        }
    }

    private static async Task<bool> ClosedWithin(TcpClient raw, TimeSpan limit)
    {
        try { return await raw.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(limit) == 0; }
        catch (IOException) { return true; } // reset
        catch (TimeoutException) { return false; }
    }

    private static async Task<TcpClient> Connect(DataPlane plane)
    {
        var c = new TcpClient();
        await c.ConnectAsync("127.0.0.1", int.Parse(plane.Endpoint[(plane.Endpoint.LastIndexOf(':') + 1)..]));
        return c;
    }

    [Fact]
    public async Task A_silent_connection_and_a_half_frame_are_closed_within_the_read_timeout()
    {
        var planes = await Planes(1, readTimeoutSeconds: 1);
        try
        {
            using (var silent = await Connect(planes[0])) Assert.True(await ClosedWithin(silent, TimeSpan.FromSeconds(10)), "a silent connection stayed open");
            using (var half = await Connect(planes[0]))
            {
                await half.GetStream().WriteAsync(new byte[] { 5, 0, 0 });
                Assert.True(await ClosedWithin(half, TimeSpan.FromSeconds(10)), "a half header held the connection");
            }
        }
        finally
        {
            foreach (var p in planes) p.Dispose();
        }
    }

    [Fact]
    public async Task Beyond_the_cap_the_oldest_idle_connections_make_room_and_a_peer_still_gets_through_afterwards()
    {
        var planes = await Planes(1, maxConnections: 8);
        var plane = planes[0];
        var idle = new List<TcpClient>();
        try
        {
            for (int i = 0; i < 40; i++) idle.Add(await Connect(plane));
            // The read timeout (30 s) would keep them all: the oldest 32 can only have been closed to make room for newer ones.
            var surplus = await Task.WhenAll(idle.Take(32).Select(c => ClosedWithin(c, TimeSpan.FromSeconds(2))));
            Assert.All(surplus, closed => Assert.True(closed, "an older idle connection was kept beyond the cap"));
            // An evicted connection's slot is freed when its reader ends, just after the close.
            var settle = DateTime.UtcNow.AddSeconds(5);
            while (plane.Connections > 8 && DateTime.UtcNow < settle) await Task.Delay(20);
            Assert.Equal(8, plane.Connections);
            foreach (var c in idle) c.Dispose();
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (plane.Connections > 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
            Assert.Equal(0, plane.Connections);
            // A peer's frame over a real socket arrives.
            using var peer = await Connect(plane);
            byte[] key = System.Text.Encoding.UTF8.GetBytes("job/e1/op/b0/rs0");
            var frame = new List<byte>();
            frame.AddRange(BitConverter.GetBytes(key.Length));
            frame.AddRange(key);
            frame.AddRange(BitConverter.GetBytes(3L));
            frame.AddRange(new byte[] { 7, 8, 9 });
            await peer.GetStream().WriteAsync(frame.ToArray());
            var payload = await plane.ReceiveAsync("job/e1/op/b0/rs0", TimeSpan.FromSeconds(10), CancellationToken.None);
            Assert.Equal(new byte[] { 7, 8, 9 }, payload.Buffer.AsSpan(0, payload.Length).ToArray());
            payload.Return();
        }
        finally
        {
            foreach (var c in idle) c.Dispose();
            foreach (var p in planes) p.Dispose();
        }
    }

    [Fact]
    public async Task A_frame_of_an_operation_the_receiver_aborted_is_refused_and_counted()
    {
        // What a silo that hung past its declared death sends when it wakes: frames of an operation its peers aborted.
        long refused = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Name == "lwf.dataplane.frames.refused") l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Value as string == "test-1") Interlocked.Add(ref refused, value);
        });
        listener.Start();
        var planes = await Planes(2);
        try
        {
            planes[1].Discard("job/e7-op3/");
            await planes[0].SendAsync(planes[1].Endpoint, "job/e7-op3/grad/rs0", new byte[] { 1, 2, 3 }, CancellationToken.None);
            await planes[0].SendAsync(planes[1].Endpoint, "job/e8-op3/grad/rs0", new byte[] { 4 }, CancellationToken.None);
            Assert.Equal(1, planes[1].Parked); // the live operation's frame waits for its taker; the aborted one's is gone
            Assert.Equal(1, Interlocked.Read(ref refused));
            var live = await planes[1].ReceiveAsync("job/e8-op3/grad/rs0", TimeSpan.FromSeconds(5), CancellationToken.None);
            Assert.Equal(1, live.Length);
            live.Return();
        }
        finally
        {
            foreach (var p in planes) p.Dispose();
        }
    }
}
