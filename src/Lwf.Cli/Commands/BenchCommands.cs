using System.CommandLine;
using System.Diagnostics;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Training;
using Lwf.Grains;

namespace Lwf.Cli.Commands;

/// <summary>`lwf bench train`: training tokens/s (median of timed steps after warm-up) and peak memory.</summary>
internal static class BenchCommands
{
    public static Command Build()
    {
        var command = new Command("bench", "Benchmarks that print figures to compare changes by");
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Confidence());
        command.Subcommands.Add(Transport());
        return command;
    }

    private static Command Train()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8, Description = "sequences per step" };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 128, Description = "tokens per sequence" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 5, Description = "timed steps" };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 2, Description = "untimed warm-up steps" };
        var command = new Command("train", "Time full training steps (forward, backward, AdamW) on random tokens")
        {
            model, batch, seq, steps, warmup, device, dtype,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            int b = parse.GetValue(batch), t = parse.GetValue(seq), timed = parse.GetValue(steps), warm = parse.GetValue(warmup);
            if (b < 1 || t < 2 || timed < 1 || warm < 0) throw new LwfInputException("--batch ≥ 1, --seq ≥ 2, --steps ≥ 1 and --warmup ≥ 0 are needed");
            TorchSharp.torch.random.manual_seed(0);
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype);
            if (t > lm.Config.MaxPositions) throw new LwfInputException($"--seq {t} exceeds the model's {lm.Config.MaxPositions} positions");
            var random = new Random(0);
            var records = Enumerable.Range(0, b)
                .Select(_ => new TokenizedRecord(
                    Enumerable.Range(0, t).Select(_ => (long)random.Next(lm.Config.VocabSize)).ToArray(),
                    Enumerable.Range(0, t).Select(i => i > 0).ToArray()))
                .ToList();
            using var tuner = new FineTuner(lm, new FineTuneOptions { Steps = warm + timed, MicroBatchSize = b, LearningRate = 1e-4 }, 0);
            Console.WriteLine($"model: {lm.Config.ModelType}, {lm.ParameterCount:N0} parameters, {DTypes.ToConfigName(lm.ComputeDType)}, device {lm.Device}, {TorchSharp.torch.get_num_threads()} threads");
            Console.WriteLine($"batch {b} × seq {t} = {b * t} tokens per step; {warm} warm-up + {timed} timed steps");
            var seconds = new List<double>();
            for (int i = 0; i < warm + timed; i++)
            {
                var clock = Stopwatch.StartNew();
                var result = tuner.Step([records]);
                if (lm.Device.type == TorchSharp.DeviceType.CUDA) TorchSharp.torch.cuda.synchronize();
                clock.Stop();
                if (i >= warm) seconds.Add(clock.Elapsed.TotalSeconds);
                Console.WriteLine($"  step {i + 1}{(i < warm ? " (warm-up)" : "")}: {clock.Elapsed.TotalSeconds:F3}s  loss {result.Loss:F4}");
            }
            double median = Median(seconds);
            Console.WriteLine($"median step: {median:F3}s");
            Console.WriteLine($"tokens/s (median): {b * t / median:F1}");
            Console.WriteLine($"peak memory (process RSS): {PeakResidentBytes() / (1024.0 * 1024 * 1024):F2} GiB");
            return 0;
        }));
        return command;
    }

    private static Command Confidence()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var samples = new Option<int>("--samples") { DefaultValueFactory = _ => 1000, Description = "self-generated samples to score" };
        var length = new Option<int>("--length") { DefaultValueFactory = _ => 16, Description = "tokens per sample (half prompt, half response)" };
        var command = new Command("confidence", "Score N random samples with the Fisher scorer; print time and peak memory (memory must not grow with N)")
        {
            model, samples, length, device,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            int n = parse.GetValue(samples), t = parse.GetValue(length);
            if (n < 1 || t < 2) throw new LwfInputException("--samples ≥ 1 and --length ≥ 2 are needed");
            using var lm = CommonOptions.LoadModel(parse, model, device, CommonOptions.DType());
            var random = new Random(0);
            TokenizedRecord Sample() => new(
                Enumerable.Range(0, t).Select(_ => (long)random.Next(lm.Config.VocabSize)).ToArray(),
                Enumerable.Range(0, t).Select(i => i >= t / 2).ToArray());
            using var accumulator = Lwf.Core.Forgetting.FisherAccumulator.For(lm);
            accumulator.Accumulate(lm, Enumerable.Range(0, 8).Select(_ => Sample()).ToList());
            using var fisher = accumulator.ToEstimate();
            long rssBefore = PeakResidentBytes();
            // Samples are made lazily, one at a time, so the inputs themselves take no memory that grows with N.
            var clock = Stopwatch.StartNew();
            double checksum = 0;
            for (int i = 0; i < n; i++) checksum += Lwf.Core.Forgetting.ForgettingConfidence.FisherConfidence(lm, Sample(), fisher);
            clock.Stop();
            Console.WriteLine($"model: {lm.Config.ModelType}, {lm.ParameterCount:N0} parameters; {n} samples of {t} tokens");
            Console.WriteLine($"scored in {clock.Elapsed.TotalSeconds:F2}s ({n / clock.Elapsed.TotalSeconds:F1} samples/s); mean FC {checksum / n:E4}");
            Console.WriteLine($"peak memory (process RSS) before scoring: {rssBefore / (1024.0 * 1024):F1} MiB");
            Console.WriteLine($"peak memory (process RSS) after scoring: {PeakResidentBytes() / (1024.0 * 1024):F1} MiB");
            return 0;
        }));
        return command;
    }

    private static Command Transport()
    {
        var mib = new Option<int>("--mib") { DefaultValueFactory = _ => 128, Description = "model size in MiB (float32 weights; the gradient sums are float64, twice that)" };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 3, Description = "measurements of each kind (the median is reported)" };
        var chunk = new Option<int>("--chunk-mib") { DefaultValueFactory = _ => PackedTensors.DefaultChunkBytes >> 20, Description = "chunk size in MiB" };
        var command = new Command("transport", "Weight pull and gradient reduce between two silo processes, next to raw loopback TCP") { mib, repeats, chunk };
        command.SetAction(LwfCommandLine.Guard(parse => TransportAsync(parse.GetValue(mib), parse.GetValue(repeats), parse.GetValue(chunk)).GetAwaiter().GetResult()));
        return command;
    }

    private static async Task<int> TransportAsync(int mib, int repeats, int chunkMib)
    {
        if (mib < 1 || repeats < 1 || chunkMib < 1 || chunkMib > 64) throw new LwfInputException("--mib and --repeats must be at least 1, --chunk-mib 1..64");
        long bytes = (long)mib * 1024 * 1024;
        var raw = new List<double>();
        for (int i = 0; i < repeats; i++) raw.Add(await RawTcpBytesPerSecond(bytes));
        Console.WriteLine($"raw loopback TCP ({mib} MiB, one stream): {Median(raw) / 1e9:F2} GB/s (runs: {string.Join(", ", raw.Select(r => (r / 1e9).ToString("F2")))})");

        string previousHome = Environment.GetEnvironmentVariable("LWF_HOME") ?? "";
        string home = Path.Combine(Path.GetTempPath(), "lwf-bench-" + Guid.NewGuid().ToString("N"));
        Environment.SetEnvironmentVariable("LWF_HOME", home);
        try
        {
            ClusterCommands.StartSilos(2, "cpu", null, null);
            await using var connection = await ClusterConnection.ConnectAsync(null);
            var a = connection.Client.GetGrain<Lwf.Abstractions.ITransportBenchGrain>("bench/0");
            var b = connection.Client.GetGrain<Lwf.Abstractions.ITransportBenchGrain>("bench/1");
            string siloA = await a.Prepare(bytes, chunkMib << 20), siloB = await b.Prepare(bytes, chunkMib << 20);
            if (siloA == siloB) throw new InvalidOperationException("both benchmark grains landed on one silo");
            double rawMedian = Median(raw);
            foreach (bool grainCalls in new[] { false, true })
            {
                var pull = new List<double>();
                var reduce = new List<double>();
                for (int i = 0; i < repeats + 1; i++)
                {
                    var p = await a.PullWeightsFrom("bench/1", grainCalls);
                    var r = await a.ReduceFrom("bench/1", grainCalls);
                    if (i == 0) continue; // warm-up: connections, JIT
                    pull.Add(p[0] / p[1]);
                    reduce.Add(r[0] / r[1]);
                }
                string path = grainCalls ? "grain calls (fallback)" : "data plane (TCP)";
                Console.WriteLine($"weight pull, {path}, silo process → silo process ({mib} MiB float32 in {chunkMib} MiB chunks): {Median(pull) / 1e9:F2} GB/s = {100 * Median(pull) / rawMedian:F0} % of raw (runs: {string.Join(", ", pull.Select(r => (r / 1e9).ToString("F2")))})");
                Console.WriteLine($"gradient reduce, {path}, fetch + add ({2 * mib} MiB float64 sums): {Median(reduce) / 1e9:F2} GB/s = {100 * Median(reduce) / rawMedian:F0} % of raw (runs: {string.Join(", ", reduce.Select(r => (r / 1e9).ToString("F2")))})");
            }
            return 0;
        }
        finally
        {
            ClusterCommands.StopSilos();
            Environment.SetEnvironmentVariable("LWF_HOME", previousHome.Length == 0 ? null : previousHome);
            if (Directory.Exists(home)) Directory.Delete(home, recursive: true);
        }
    }

    // One TCP stream on loopback, 1 MiB writes, timed until the reader has every byte.
    private static async Task<double> RawTcpBytesPerSecond(long bytes)
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var reader = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            using var stream = socket.GetStream();
            var buffer = new byte[1 << 20];
            long received = 0;
            while (received < bytes)
            {
                int n = await stream.ReadAsync(buffer);
                if (n == 0) break;
                received += n;
            }
            return received;
        });
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var data = new byte[1 << 20];
        Random.Shared.NextBytes(data);
        var clock = Stopwatch.StartNew();
        using (var stream = client.GetStream())
        {
            for (long sent = 0; sent < bytes; sent += data.Length)
                await stream.WriteAsync(data.AsMemory(0, (int)Math.Min(data.Length, bytes - sent)));
            await reader;
        }
        clock.Stop();
        listener.Stop();
        return bytes / clock.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    // VmHWM: the high-water mark of resident memory, from the kernel (Linux).
    private static long PeakResidentBytes()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return Process.GetCurrentProcess().PeakWorkingSet64;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("VmHWM:"));
        return line is null ? Process.GetCurrentProcess().PeakWorkingSet64
            : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }
}
