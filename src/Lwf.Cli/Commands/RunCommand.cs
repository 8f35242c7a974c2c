using Lwf.Grains.Replicas;
using System.CommandLine;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Jobs;
using Lwf.Grains.Jobs;
using Lwf.Silo;

namespace Lwf.Cli.Commands;

/// <summary>`lwf run JOB.yaml --out DIR [--silos N]`: the embedded default, N silos in this process on loopback.</summary>
internal static class RunCommand
{
    public static Command Build()
    {
        var job = new Argument<string>("job") { Description = "job file (YAML; JSON accepted)" };
        var output = new Option<string>("--out") { Description = "output folder (the layout of `lwf train`)", Required = true };
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 2, Description = "silos to start in this process" };
        var shards = new Option<int>("--shards") { DefaultValueFactory = _ => 0, Description = "data shards (0: two per silo)" };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "cpu", Description = "the silos' device: auto, cpu, cuda" };
        var json = new Option<bool>("--json") { Description = "progress as one JSON object per event on stdout (as `lwf watch --json`)" };
        var overwrite = OutputFolder.OverwriteOption();
        var command = new Command("run", "Run a job on an embedded cluster of silos in this process") { job, output, silos, shards, device, json, overwrite };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            if (parse.GetValue(silos) < 1) throw new LwfInputException("--silos must be at least 1");
            if (parse.GetValue(shards) < 0) throw new LwfInputException("--shards must be ≥ 0");
            string jobFile = Path.GetFullPath(parse.GetValue(job)!);
            var spec = JobSpec.Load(jobFile); // refuse a bad job before any silo starts
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            OutputFolder.Check(outDir, parse.GetValue(overwrite));
            return TorchThread.Serve(RunAsync(spec, jobFile, outDir, parse.GetValue(silos), parse.GetValue(shards), parse.GetValue(device)!,
                WatchFormats.Choose(parse.GetValue(json))));
        }));
        return command;
    }

    private static async Task<int> RunAsync(JobSpec spec, string jobFile, string outDir, int silos, int shards, string device, WatchFormat format)
    {
        string checkpoints = Path.Combine(Path.GetTempPath(), "lwf-embedded", Guid.NewGuid().ToString("N"));
        try
        {
            Console.Error.WriteLine($"starting {silos} silo(s) on loopback…");
            await using var cluster = await LocalCluster.StartAsync(silos, checkpoints, device,
                new Dictionary<string, string?> { ["Lwf:ShardsPerJob"] = shards.ToString() });
            string jobId = JobIds.FromName(spec.Name, DateTime.UtcNow);
            using var interrupts = new Interrupts($"stopped at once (second ^C): the embedded cluster's checkpoints go with it");
            var status = await EmbeddedJob.RunAsync(cluster.Client, checkpoints, jobId, jobFile, outDir, Console.Out, format, interrupts);
            if (status is null) return Interrupts.ExitCode;
            if (status.Phase != JobPhase.Done) return 1;
            // With --json, stdout holds JSON lines only; the table is in OUT/report.md.
            var summary = format == WatchFormat.Json ? Console.Error : Console.Out;
            summary.WriteLine(status.ResultTable);
            summary.WriteLine($"wrote {outDir}: model/, trainer_state.json, report.json, report.md, plots");
            return 0;
        }
        finally
        {
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }
    }
}
