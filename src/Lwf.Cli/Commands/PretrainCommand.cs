using Lwf.Core.Jobs;
using System.CommandLine;
using Lwf.Core.Pretraining;

namespace Lwf.Cli.Commands;

/// <summary>`lwf pretrain`: the small GPT-2-shaped base model, trained on every task domain; cached.</summary>
internal static class PretrainCommand
{
    public static string DefaultDirectory => Path.Combine(ClusterState.Home, "models", "lwf-base");

    /// <summary>Pretrains (or loads the cached model) with a progress bar on the console: `lwf pretrain`, `lwf demo`, `lwf experiment`.</summary>
    public static PretrainReport RunWithProgress(string dataDirectory, string outDirectory, PretrainOptions options, bool force = false)
    {
        var progress = new ConsoleProgress();
        var report = Pretrainer.Run(dataDirectory, outDirectory, options,
            new Progress<(int Step, int Steps, double Loss)>(p => progress.Report(new(JobStage.Pretraining, p.Step, p.Steps, $"loss {p.Loss:F3}"))), force);
        progress.Done();
        return report;
    }

    public static Command Build()
    {
        var defaults = new PretrainOptions();
        var data = new Option<string>("--dir") { Description = "data folder from `lwf data fetch`", DefaultValueFactory = _ => DataCommands.DefaultDirectory };
        var output = new Option<string>("--out") { Description = "model folder (Hugging Face format, with pretrain-report.json)", DefaultValueFactory = _ => DefaultDirectory };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => defaults.Layers };
        var embedding = new Option<int>("--embedding") { DefaultValueFactory = _ => defaults.Embedding };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => defaults.Heads };
        var context = new Option<int>("--context") { Description = "tokens per window and model positions", DefaultValueFactory = _ => defaults.Context };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => defaults.Steps };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => defaults.LearningRate };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => defaults.Seed };
        var windows = new Option<int>("--max-windows") { Description = "training windows per domain at most", DefaultValueFactory = _ => defaults.MaxWindowsPerDomain };
        var repeats = new Option<int>("--knowledge-repeats") { Description = "times the forgetting tasks' knowledge is in the mix", DefaultValueFactory = _ => defaults.KnowledgeRepeats };
        var force = new Option<bool>("--force") { Description = "train again even when OUT holds a model of these options and data" };
        var command = new Command("pretrain", "Train the small base model on every task domain (cached: a second run with the same options reuses it)")
        {
            data, output, layers, embedding, heads, context, steps, batch, lr, seed, windows, repeats, force,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var options = new PretrainOptions
            {
                Layers = parse.GetValue(layers), Embedding = parse.GetValue(embedding), Heads = parse.GetValue(heads),
                Context = parse.GetValue(context), Steps = parse.GetValue(steps), BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr), Seed = parse.GetValue(seed), MaxWindowsPerDomain = parse.GetValue(windows),
                KnowledgeRepeats = parse.GetValue(repeats),
            };
            var report = RunWithProgress(parse.GetValue(data)!, parse.GetValue(output)!, options, parse.GetValue(force));
            Console.WriteLine(report.Cached
                ? $"cached: {parse.GetValue(output)} ({report.Parameters:N0} parameters, trained in {report.Seconds:F0} s)"
                : $"trained {report.Parameters:N0} parameters, {report.Steps} steps in {report.Seconds:F0} s, final loss {report.FinalLoss:F3}");
            Console.WriteLine("| domain | train windows | held-out docs | perplexity before | after |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: |");
            foreach (var d in report.Domains)
                Console.WriteLine($"| {d.Domain} | {d.TrainWindows} | {d.HeldOutRecords} | {d.Before:F1} | {d.After:F1} |");
            Console.WriteLine();
            Console.WriteLine("| forgetting task (knowledge) | train windows | eval records | chance | accuracy before | after |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var k in report.Knowledge)
                Console.WriteLine($"| {k.Task} | {k.TrainWindows} | {k.Records} | {k.Chance:F2} | {k.Before:F3} | {k.After:F3} |");
            return 0;
        }));
        return command;
    }
}
