using System.CommandLine;
using System.Diagnostics;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Training;

namespace Lwf.Cli.Commands;

/// <summary>`lwf bench train|confidence|allreduce|cluster|recovery`: figures printed side by side with a baseline measured in the same run.</summary>
internal static class BenchCommands
{
    public static Command Build()
    {
        var command = new Command("bench", "Benchmarks that print figures to compare changes by");
        command.Subcommands.Add(Train());
        command.Subcommands.Add(Confidence());
        command.Subcommands.Add(BenchAllReduce.Build());
        command.Subcommands.Add(BenchAllReduce.RingWorker());
        command.Subcommands.Add(BenchCluster.Build());
        command.Subcommands.Add(BenchRecovery.Build());
        return command;
    }

    private static Command Train()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8, Description = "sequences per step" };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 128, Description = "tokens per sequence" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 5, Description = "timed steps" };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 2, Description = "untimed warm-up steps" };
        var peak = new Option<double?>("--peak-tflops") { Description = "the device's dense peak in TFLOP/s (H200 bf16: 989), to print the MFU" };
        var command = new Command("train", "Time full training steps (forward, backward, AdamW) on random tokens")
        {
            model, batch, seq, steps, warmup, device, dtype, bf16, peak,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            int b = parse.GetValue(batch), t = parse.GetValue(seq), timed = parse.GetValue(steps), warm = parse.GetValue(warmup);
            if (b < 1 || t < 2 || timed < 1 || warm < 0) throw new LwfInputException("--batch ≥ 1, --seq ≥ 2, --steps ≥ 1 and --warmup ≥ 0 are needed");
            if (parse.GetValue(peak) is <= 0) throw new LwfInputException("--peak-tflops must be positive (the device's dense peak in TFLOP/s)");
            TorchSharp.torch.random.manual_seed(0);
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            if (t > lm.Config.MaxPositions) throw new LwfInputException($"--seq {t} exceeds the model's {lm.Config.MaxPositions} positions");
            var random = new Random(0);
            var records = Enumerable.Range(0, b)
                .Select(_ => new TokenizedRecord(
                    Enumerable.Range(0, t).Select(_ => (long)random.Next(lm.Config.VocabSize)).ToArray(),
                    Enumerable.Range(0, t).Select(i => i > 0).ToArray()))
                .ToList();
            using var tuner = new FineTuner(lm, new FineTuneOptions { Steps = warm + timed, MicroBatchSize = b, LearningRate = 1e-4, Bf16 = parse.GetValue(bf16) }, 0);
            Console.WriteLine($"model: {lm.Config.ModelType}, {lm.ParameterCount:N0} parameters, {DTypes.ToConfigName(lm.WeightDType)} weights{(lm.Autocast.DType is { } ac ? $", {DTypes.ToConfigName(ac)} matrix products" : "")}, device {lm.Device}, {TorchSharp.torch.get_num_threads()} threads");
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
            // nanoGPT's estimate (PaLM appendix B): 6 FLOPs per parameter per token, plus attention's 12·layers·width·seq.
            double teraflops = b * t / median * (6.0 * lm.ParameterCount + 12.0 * lm.Config.NumLayers * lm.Config.HiddenSize * t) / 1e12;
            Console.WriteLine($"model TFLOP/s: {teraflops:F2}" + (parse.GetValue(peak) is { } p ? $"; MFU {teraflops / p:P1} of {p:G}" : ""));
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

    // One TCP stream on loopback, 1 MiB writes, timed until the reader has every byte.
    internal static async Task<double> RawTcpBytesPerSecond(long bytes)
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

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        int n = sorted.Count;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    // VmHWM: the high-water mark of resident memory, from the kernel (Linux).
    internal static long PeakResidentBytes(int? pid = null) =>
        ProcessStatus.Bytes("VmHWM:", pid) ?? (pid is null ? Process.GetCurrentProcess().PeakWorkingSet64 : 0);
}
