using Lwf.Grains.Replicas;
using System.CommandLine;
using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Corpora;
using Lwf.Core.Pretraining;
using Lwf.Core.Reports;
using Lwf.Core.Tasks;
using Lwf.Grains.Jobs;
using Lwf.Silo;

namespace Lwf.Cli.Commands;

/// <summary>
/// `lwf demo`: the paper's experiment at small scale, end to end. Fetches what is missing, pretrains the base
/// model or loads the cached one, and runs one learning/forgetting pair on an embedded cluster three ways:
/// vanilla fine-tuning, LWF with the Fisher scorer, LWF with the random scorer; prints one table and writes
/// plots. Every number comes from this run.
/// </summary>
internal static class DemoCommand
{
    private static readonly string[] Runs = ["vanilla", "lwf-fisher", "lwf-random"];

    /// <summary>The `--tiny` configuration: a minutes-long smoke run (the tests use it), not a measurement.</summary>
    private static readonly PretrainOptions TinyBase = new()
    {
        Layers = 1, Embedding = 32, Heads = 2, Context = 48, Steps = 20, BatchSize = 4, HeldOutDocuments = 10, MaxWindowsPerDomain = 60, KnowledgeRepeats = 1,
    };

    public static Command Build()
    {
        var learn = new Option<string>("--learn") { Description = "learning task", DefaultValueFactory = _ => "stated-capitals" };
        var forget = new Option<string>("--forget") { Description = "forgetting task", DefaultValueFactory = _ => "capitals" };
        var output = new Option<string>("--out") { Description = "where the runs, table and plots go", DefaultValueFactory = _ => "lwf-demo" };
        var data = new Option<string>("--dir") { Description = "data folder", DefaultValueFactory = _ => DataCommands.DefaultDirectory };
        var baseModel = new Option<string?>("--base") { Description = "base model folder (default: $LWF_HOME/models/lwf-base, or lwf-base-tiny with --tiny)" };
        var silos = new Option<int>("--silos") { Description = "embedded silos (at least 2)", DefaultValueFactory = _ => 2 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42 };
        var tiny = new Option<bool>("--tiny") { Description = "a tiny base model and job: a smoke run in a few minutes" };
        var overwrite = OutputFolder.OverwriteOption();
        var command = new Command("demo", "Fetch, pretrain (cached), and compare vanilla fine-tuning with LWF (fisher, random) on an embedded cluster")
        {
            learn, forget, output, data, baseModel, silos, seed, tiny, overwrite,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            if (parse.GetValue(silos) < 2) throw new LwfInputException("--silos must be at least 2");
            bool small = parse.GetValue(tiny);
            TaskBuilders.Get(TaskBuilders.Learning, parse.GetValue(learn)!, "learning");
            TaskBuilders.Get(TaskBuilders.Forgetting, parse.GetValue(forget)!, "forgetting");
            OutputFolder.Check(Path.GetFullPath(parse.GetValue(output)!), parse.GetValue(overwrite));
            return TorchThread.Serve(RunAsync(parse.GetValue(learn)!, parse.GetValue(forget)!, Path.GetFullPath(parse.GetValue(output)!), parse.GetValue(data)!,
                parse.GetValue(baseModel) ?? PretrainCommand.DefaultDirectory + (small ? "-tiny" : ""), parse.GetValue(silos), parse.GetValue(seed), small));
        }));
        return command;
    }

    private static async Task<int> RunAsync(string learn, string forget, string outDir, string dataDir, string baseDir, int silos, long seed, bool tiny)
    {
        var clock = Stopwatch.StartNew();
        Console.Error.WriteLine($"[1/4] corpora in {dataDir}");
        CorpusFetcher.Fetch(dataDir, log: line => Console.Error.WriteLine("      " + line));

        Console.Error.WriteLine($"[2/4] base model in {baseDir}");
        var pretrained = PretrainCommand.RunWithProgress(dataDir, baseDir, tiny ? TinyBase : new PretrainOptions());
        Console.Error.WriteLine(pretrained.Cached ? "      cached" : $"      pretrained in {pretrained.Seconds:F0} s");

        Console.Error.WriteLine($"[3/4] {learn} vs {forget} job files in {outDir}/job");
        var sizes = tiny ? new TaskSizes(Train: 64, Eval: 24, HeldOut: 16) : TaskSizes.Experiment;
        var settings = tiny ? new PairJobSettings(Steps: 6, MicroBatchSize: 4, MaxLength: 48, SelfGenTokens: 6, FisherRecords: 16)
            : new PairJobSettings();
        string pair = TaskPair.Write(Path.Combine(outDir, "job"), dataDir, learn, forget, baseDir, sizes, seed, settings);

        Console.Error.WriteLine($"[4/4] {Runs.Length} runs on {silos} embedded silos");
        var runs = new List<ComparedRun>();
        string checkpoints = Path.Combine(Path.GetTempPath(), "lwf-demo", Guid.NewGuid().ToString("N"));
        try
        {
            await using var cluster = await LocalCluster.StartAsync(silos, checkpoints);
            // ^C stops the run in flight as `lwf run` does (its newest checkpoint into its folder, `lwf train --resume`
            // goes on); the runs after it are each one `lwf train` of its job file.
            using var interrupts = new Interrupts($"stopped at once (second ^C): the embedded cluster's checkpoints go with it");
            foreach (var (run, index) in Runs.Select((r, i) => (r, i)))
            {
                var runClock = Stopwatch.StartNew();
                string runDir = Path.Combine(outDir, run), jobFile = TaskPair.JobFile(pair, run);
                Console.Out.WriteLine($"== {run}");
                var status = await EmbeddedJob.RunAsync(cluster.Client, checkpoints, JobIds.FromName($"demo-{run}", DateTime.UtcNow), jobFile, runDir,
                    Console.Out, WatchFormats.Choose(json: false), interrupts);
                if (status is null)
                {
                    foreach (var later in Runs.Skip(index + 1))
                        Console.Error.WriteLine($"not run: {later}; run it with\n  lwf train {TaskPair.JobFile(pair, later)} --out {Path.Combine(outDir, later)}");
                    return Interrupts.ExitCode;
                }
                if (status.Phase != JobPhase.Done) throw new LwfInputException($"{jobFile}: the job ended {status.Phase.ToString().ToLowerInvariant()}: {status.Message}");
                runs.Add(new ComparedRun(run, LwfReport.Load(Path.Combine(runDir, ReportWriter.ReportFile)), runClock.Elapsed.TotalSeconds));
            }
        }
        finally
        {
            if (Directory.Exists(checkpoints)) Directory.Delete(checkpoints, recursive: true);
        }

        string table = RunComparison.Table(runs);
        string title = $"learn {learn}, forget {forget}";
        RunComparison.Plot(runs, title, Path.Combine(outDir, "demo.png"));
        File.WriteAllText(Path.Combine(outDir, "demo.md"), $"# lwf demo: {title}\n\nbase model {baseDir} ({pretrained.Parameters:N0} parameters), seed {seed}, {silos} silos" +
            $"{(tiny ? ", --tiny (a smoke run, not a measurement)" : "")}\n\n{table}\n![learn and forget metrics and held-out perplexity per run, the base model's levels dashed](demo.png)\n");
        Console.WriteLine();
        Console.WriteLine($"learn {learn}, forget {forget}; base model {pretrained.Parameters:N0} parameters; {silos} silos; seed {seed}");
        Console.Write(table);
        Console.WriteLine($"wrote {outDir}: demo.md, demo.png, and per run report.md, loss-curves.png, model/ ({clock.Elapsed.TotalSeconds:F0} s in all)");
        Console.WriteLine($"peak memory (process RSS, pretraining and {silos} silos included): {BenchCommands.PeakResidentBytes() / (1024.0 * 1024 * 1024):F2} GiB");
        return 0;
    }
}
