using System.CommandLine;
using Lwf.Cli.Commands;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>The `lwf` command tree. Every command reports user errors as one line on stderr, exit code 2.</summary>
public static class LwfCommandLine
{
    public static RootCommand Build()
    {
        var root = new RootCommand("lwf: fine-tune generative language models with Learning With Forgetting");
        root.Subcommands.Add(ModelCommands.Build());
        root.Subcommands.Add(GenerateCommand.Build());
        root.Subcommands.Add(FinetuneCommand.Build());
        root.Subcommands.Add(TrainCommand.Build());
        root.Subcommands.Add(RunCommand.Build());
        foreach (var c in ClusterCommands.Build()) root.Subcommands.Add(c);
        foreach (var c in JobCommands.Build()) root.Subcommands.Add(c);
        foreach (var stage in ForgettingCommands.Build()) root.Subcommands.Add(stage);
        root.Subcommands.Add(DataCommands.Build());
        root.Subcommands.Add(PretrainCommand.Build());
        root.Subcommands.Add(DemoCommand.Build());
        root.Subcommands.Add(ExperimentCommand.Build());
        root.Subcommands.Add(BenchCommands.Build());
        return root;
    }

    public static int Run(string[] args) => Build().Parse(args).Invoke();

    /// <summary>Wraps a command body: input errors become `error: ...` and exit code 2, never a stack trace.</summary>
    public static Func<ParseResult, int> Guard(Func<ParseResult, int> body) => parse =>
    {
        try
        {
            return body(parse);
        }
        catch (LwfInputException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (LwfTrainingException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1; // the input was valid; the training went wrong
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    };
}
