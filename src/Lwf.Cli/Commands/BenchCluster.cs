using Lwf.Abstractions;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Lwf.Core;
using Lwf.Core.Reports;

namespace Lwf.Cli.Commands;

/// <summary>
/// `lwf bench cluster --model DIR --silos N`: one plain fine-tuning job (random tokens of --seq, --batch records a
/// step, no forgetting, no evaluation) through `lwf train` and through an embedded N-silo cluster (`lwf run`), each
/// in a child process whose peak RSS is read from the kernel; with --processes, also on `lwf cluster up` silo
/// processes (peak RSS per silo). Tokens/s is the median over the steps after --warmup (input tokens / step time):
/// the first steps of a process grow its heap and fault its pages in (on these VMs a page fault costs ~15 µs, and
/// two replicas in one process take longer to settle), and a training job lives in the steady state after them.
/// </summary>
internal static class BenchCluster
{
    public static Command Build()
    {
        var model = CommonOptions.Model();
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 2, Description = "silos of the cluster runs" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 12, Description = "learning steps, warm-up included" };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 3, Description = "first steps not timed (tokens/s is the median over the others)" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8, Description = "records per step (the global batch)" };
        var micro = new Option<int>("--micro") { DefaultValueFactory = _ => 2, Description = "records per micro-batch" };
        var seq = new Option<int>("--seq") { DefaultValueFactory = _ => 128, Description = "tokens per record" };
        var processes = new Option<bool>("--processes") { Description = "also run on `lwf cluster up` silo processes and report each silo's peak RSS" };
        var bf16 = CommonOptions.Bf16();
        var device = CommonOptions.Device();
        var command = new Command("cluster", "The same job through `lwf train` and an N-silo cluster: tokens/s and peak RSS side by side")
        {
            model, silos, steps, warmup, batch, micro, seq, processes, bf16, device,
        };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(model)!, parse.GetValue(silos), parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(batch),
            parse.GetValue(micro), parse.GetValue(seq), parse.GetValue(processes), parse.GetValue(bf16), parse.GetValue(device)!)));
        return command;
    }

    private static int Run(string model, int silos, int steps, int warmup, int batch, int micro, int seq, bool processes, bool bf16, string device)
    {
        if (silos < 1 || warmup < 0 || steps <= warmup || batch < 1 || micro < 1 || batch % micro != 0 || seq < 2)
            throw new LwfInputException("--silos ≥ 1, 0 ≤ --warmup < --steps, --batch ≥ 1 a multiple of --micro, and --seq ≥ 2 are needed");
        Lwf.Core.Models.Devices.Resolve(device); // a device this machine lacks is refused here, not by a child process
        model = Path.GetFullPath(model);
        int vocab = Lwf.Core.Models.ModelConfig.Load(model).VocabSize; // the typed reader: a bad config is one error line
        string work = Path.Combine(Path.GetTempPath(), "lwf-bench-cluster-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        try
        {
            string job = WriteJob(work, model, vocab, steps, batch, micro, seq, bf16, device);
            Console.WriteLine($"job: {Path.GetFileName(model)}, {steps} steps × {batch} records × {seq} tokens (micro-batches of {micro}), no forgetting, no evaluation, " +
                $"{(bf16 ? "bf16 mixed precision" : "float32")} on {device}; " +
                $"tokens/s: median over the steps after the first {warmup}");
            var single = Measure("lwf train", ["train", job, "--out", Path.Combine(work, "train")], Path.Combine(work, "train"), warmup);
            Console.WriteLine($"lwf train:                 {single.TokensPerSecond,8:F1} tokens/s   peak RSS {Gib(single.PeakRss):F2} GiB");
            var embedded = Measure($"lwf run --silos {silos}", ["run", job, "--out", Path.Combine(work, "run"), "--silos", silos.ToString(), "--device", device], Path.Combine(work, "run"), warmup);
            Console.WriteLine($"embedded {silos}-silo cluster: {embedded.TokensPerSecond,8:F1} tokens/s = {embedded.TokensPerSecond / single.TokensPerSecond:F2} × lwf train   " +
                $"peak RSS {Gib(embedded.PeakRss):F2} GiB = {(double)embedded.PeakRss / single.PeakRss:F2} × lwf train ({silos} replicas in one process)");
            if (processes) OnSiloProcesses(job, work, silos, warmup, single, device);
            return 0;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static string WriteJob(string work, string model, int vocab, int steps, int batch, int micro, int seq, bool bf16, string device)
    {
        var random = new Random(0);
        File.WriteAllLines(Path.Combine(work, "records.jsonl"), Enumerable.Range(0, batch * steps).Select(_ =>
            new JsonObject { ["input_ids"] = new JsonArray(Enumerable.Range(0, seq).Select(_ => (JsonNode)random.Next(vocab)).ToArray()) }.ToJsonString()));
        string job = Path.Combine(work, "job.yaml");
        File.WriteAllText(job, $"""
            name: bench-cluster
            model: {model}
            max_length: {seq}
            device: {device}
            data:
              learn_train: records.jsonl
            train:
              seed: 1
              max_steps: {steps}
              learning_rate: 1.0e-4
              lr_scheduler_type: cosine
              warmup_steps: 0
              per_device_train_batch_size: {micro}
              gradient_accumulation_steps: {batch / micro}
              save_steps: 0
              bf16: {(bf16 ? "true" : "false")}
            forgetting:
              schedule: none
            """);
        return job;
    }

    private sealed record Measured(double TokensPerSecond, long PeakRss);

    /// <summary>Runs lwf with these arguments in a child process, polling its peak RSS; reads tokens/s from its report.</summary>
    private static Measured Measure(string what, string[] args, string outDir, int warmup)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(BenchCluster).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long peak = 0;
        while (!process.WaitForExit(200)) peak = Math.Max(peak, BenchCommands.PeakResidentBytes(process.Id));
        if (process.ExitCode != 0) throw new InvalidOperationException($"{what} failed (exit {process.ExitCode}): {stderr.Result}{stdout.Result}");
        return new Measured(TokensPerSecond(LwfReport.Load(Path.Combine(outDir, ReportWriter.ReportFile)), warmup), peak);
    }

    private static double TokensPerSecond(LwfReport report, int warmup) =>
        BenchCommands.Median(report.StepTimes.Skip(warmup).Select(s => s.InputTokens / s.Seconds).ToList());

    private static void OnSiloProcesses(string job, string work, int silos, int warmup, Measured single, string device)
    {
        string previousHome = Environment.GetEnvironmentVariable("LWF_HOME") ?? "";
        Environment.SetEnvironmentVariable("LWF_HOME", Path.Combine(work, "home"));
        try
        {
            var state = ClusterCommands.StartSilos(silos, device, Path.Combine(work, "checkpoints"), null);
            var lwf = typeof(BenchCluster).Assembly.Location;
            var submit = Process.Start(new ProcessStartInfo("dotnet", [lwf, "submit", "--on-cluster", job, "--id", "bench"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
            submit.WaitForExit();
            var watch = Process.Start(new ProcessStartInfo("dotnet", [lwf, "watch", "bench"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
            var peaks = new long[silos];
            while (!watch.WaitForExit(500))
                for (int i = 0; i < silos; i++) peaks[i] = Math.Max(peaks[i], BenchCommands.PeakResidentBytes(state.Silos[i].Pid));
            for (int i = 0; i < silos; i++) peaks[i] = Math.Max(peaks[i], BenchCommands.PeakResidentBytes(state.Silos[i].Pid));
            if (watch.ExitCode != 0) throw new InvalidOperationException($"the job on silo processes failed: {watch.StandardOutput.ReadToEnd()}");
            var report = LwfReport.Load(Path.Combine(JobFolders.Of(Path.Combine(work, "checkpoints"), "bench").Results, ReportWriter.ReportFile));
            Console.WriteLine($"{silos} silo processes:          {TokensPerSecond(report, warmup),8:F1} tokens/s = {TokensPerSecond(report, warmup) / single.TokensPerSecond:F2} × lwf train   peak RSS per silo " +
                string.Join(", ", peaks.Select(p => $"{Gib(p):F2} GiB = {(double)p / single.PeakRss:F2} ×")));
        }
        finally
        {
            ClusterCommands.StopSilos();
            Environment.SetEnvironmentVariable("LWF_HOME", previousHome.Length == 0 ? null : previousHome);
        }
    }

    private static double Gib(long bytes) => bytes / (1024.0 * 1024 * 1024);
}
