using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Collectives;

namespace Lwf.Cli.Commands;

/// <summary>
/// `lwf bench allreduce --silos N --mib M`: the jobs' ring all-reduce between N silo processes, next to two baselines
/// measured in the same run: one raw loopback TCP stream, and the same ring algorithm among N plain processes over
/// bare sockets (no Orleans, no TorchSharp): what this machine's cores and loopback allow. Bus bandwidth as
/// nccl-tests define it: algbw × 2(N−1)/N, where algbw = bytes / time.
/// </summary>
internal static class BenchAllReduce
{
    public static Command Build()
    {
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 3, Description = "silo processes in the ring" };
        var mib = new Option<int>("--mib") { DefaultValueFactory = _ => 256, Description = "float32 buffer size in MiB" };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 3, Description = "timed all-reduces (after one warm-up; the median is reported)" };
        var command = new Command("allreduce", "Ring all-reduce between silo processes next to raw TCP and a bare-socket ring") { silos, mib, repeats };
        command.SetAction(LwfCommandLine.Guard(parse => RunAsync(parse.GetValue(silos), parse.GetValue(mib), parse.GetValue(repeats)).GetAwaiter().GetResult()));
        return command;
    }

    private static async Task<int> RunAsync(int n, int mib, int repeats)
    {
        if (n < 2 || n > 16 || mib < 1 || mib > 4096 || repeats < 1) throw new LwfInputException("--silos 2..16, --mib 1..4096 and --repeats ≥ 1 are needed");
        long bytes = (long)mib << 20;
        double factor = 2.0 * (n - 1) / n;
        Console.WriteLine($"ring all-reduce of {mib} MiB float32 among {n}; bus bandwidth = algbw × 2(N−1)/N = algbw × {factor:F3}");

        var raw = new List<double>();
        for (int i = 0; i < repeats; i++) raw.Add(await BenchCommands.RawTcpBytesPerSecond(bytes));
        Console.WriteLine($"raw loopback TCP, one stream: {BenchCommands.Median(raw) / 1e9:F2} GB/s");

        var bare = BareRing(n, mib, repeats);
        double bareBus = bytes / BenchCommands.Median(bare) * factor;
        Console.WriteLine($"bare-socket ring, {n} plain processes: {BenchCommands.Median(bare):F3} s, algbw {bytes / BenchCommands.Median(bare) / 1e9:F2} GB/s, bus {bareBus / 1e9:F2} GB/s");

        string previousHome = Environment.GetEnvironmentVariable("LWF_HOME") ?? "";
        string home = Path.Combine(Path.GetTempPath(), "lwf-bench-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable("LWF_HOME", home);
        try
        {
            ClusterCommands.StartSilos(n, "cpu", null, null);
            await using var connection = await ClusterConnection.ConnectAsync(null);
            var grains = Enumerable.Range(0, n).Select(r => connection.Client.GetGrain<ICollectiveBenchGrain>(new ShardKey("bench", r).ToString())).ToArray();
            var endpoints = await Task.WhenAll(grains.Select(g => g.Prepare(mib).AsTask()));
            if (endpoints.Distinct().Count() != n) throw new InvalidOperationException("the benchmark grains did not land on distinct silos");
            var runs = await Task.WhenAll(grains.Select((g, r) => g.Run(new RingLayout(1, r, endpoints), "allreduce", repeats + 1).AsTask()));
            // A run lasts as long as its slowest rank; the first is a warm-up (connections, JIT).
            var seconds = Enumerable.Range(1, repeats).Select(i => runs.Max(r => r[i])).ToList();
            double median = BenchCommands.Median(seconds), bus = bytes / median * factor;
            Console.WriteLine($"lwf ring all-reduce, {n} silo processes (data plane, 32 MiB buckets): {median:F3} s, algbw {bytes / median / 1e9:F2} GB/s, " +
                $"bus {bus / 1e9:F2} GB/s = {100 * bus / bareBus:F0} % of the bare-socket ring (runs: {string.Join(", ", seconds.Select(s => s.ToString("F3")))})");
            return 0;
        }
        finally
        {
            ClusterCommands.StopSilos();
            Environment.SetEnvironmentVariable("LWF_HOME", previousHome.Length == 0 ? null : previousHome);
            if (Directory.Exists(home)) Directory.Delete(home, recursive: true);
        }
    }

    /// <summary>Starts N `lwf bench ring-worker` processes; returns rank 0's seconds per timed run.</summary>
    private static List<double> BareRing(int n, int mib, int repeats)
    {
        var ports = Lwf.Silo.LocalCluster.FreePorts(n);
        string lwf = typeof(BenchAllReduce).Assembly.Location;
        var processes = Enumerable.Range(0, n).Select(r =>
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in new[] { lwf, "bench", "ring-worker", "--rank", r.ToString(), "--ports", string.Join(",", ports), "--mib", mib.ToString(), "--repeats", (repeats + 1).ToString() })
                start.ArgumentList.Add(a);
            return Process.Start(start)!;
        }).ToList();
        var outputs = processes.Select(p => p.StandardOutput.ReadToEndAsync()).ToList();
        foreach (var p in processes) p.WaitForExit();
        if (processes.Any(p => p.ExitCode != 0))
            throw new InvalidOperationException("a bare-socket ring worker failed: " + string.Join(" | ", processes.Select(p => p.StandardError.ReadToEnd())));
        var perRank = outputs.Select(o => o.Result.Trim().Split(' ').Select(double.Parse).ToArray()).ToList();
        return Enumerable.Range(1, repeats).Select(i => perRank.Max(r => r[i])).ToList();
    }

    /// <summary>Hidden: one rank of the bare-socket ring (a plain process: sockets and arrays, nothing else).</summary>
    public static Command RingWorker()
    {
        var rank = new Option<int>("--rank");
        var ports = new Option<string>("--ports");
        var mib = new Option<int>("--mib");
        var repeats = new Option<int>("--repeats");
        var command = new Command("ring-worker", "one rank of the bare-socket ring baseline (used by bench allreduce)") { rank, ports, mib, repeats };
        command.Hidden = true;
        command.SetAction(parse =>
        {
            var seconds = WorkerAsync(parse.GetValue(rank), parse.GetValue(ports)!.Split(',').Select(int.Parse).ToArray(), parse.GetValue(mib), parse.GetValue(repeats))
                .GetAwaiter().GetResult();
            Console.WriteLine(string.Join(" ", seconds.Select(s => s.ToString("R"))));
            return 0;
        });
        return command;
    }

    private static async Task<List<double>> WorkerAsync(int rank, int[] ports, int mib, int repeats)
    {
        int n = ports.Length;
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, ports[rank]));
        listener.Listen(1);
        var accepting = listener.AcceptAsync();
        using var right = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        for (int attempt = 0; ; attempt++)
        {
            try { await right.ConnectAsync(IPAddress.Loopback, ports[(rank + 1) % n]); break; }
            catch (SocketException) when (attempt < 300) { await Task.Delay(100); }
        }
        using var left = await accepting;
        var data = new byte[(long)mib << 20];
        var incoming = new byte[data.Length / n + 64];
        var header = new byte[8];
        const int bucket = 32 << 20;
        var seconds = new List<double>();
        for (int run = 0; run < repeats; run++)
        {
            Array.Fill(data, (byte)0);
            var clock = Stopwatch.StartNew();
            for (int offset = 0, b = 0; offset < data.Length; offset += bucket, b++)
            {
                var slice = data.AsMemory(offset, Math.Min(bucket, data.Length - offset));
                await RingAllReduce.RunAsync(slice, RingElement.Float32, rank, n, $"b{b}",
                    async (_, bytes) =>
                    {
                        var h = new byte[8];
                        BinaryPrimitives.WriteInt64LittleEndian(h, bytes.Length);
                        await right.SendAsync(h, SocketFlags.None);
                        while (bytes.Length > 0) bytes = bytes[await right.SendAsync(bytes, SocketFlags.None)..];
                    },
                    async _ =>
                    {
                        await ReceiveExactly(left, header);
                        int length = (int)BinaryPrimitives.ReadInt64LittleEndian(header);
                        await ReceiveExactly(left, incoming.AsMemory(0, length));
                        return (incoming.AsMemory(0, length), () => { });
                    });
            }
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        return seconds;
    }

    private static async Task ReceiveExactly(Socket socket, Memory<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None);
            if (n == 0) throw new IOException("the left neighbour closed the connection");
            buffer = buffer[n..];
        }
    }
}
