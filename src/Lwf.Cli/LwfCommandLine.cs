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
        root.Subcommands.Add(SoakCommand.Build());
        return root;
    }

    /// <summary>
    /// Parses and runs. A command-line mistake (an unknown command or option, a missing value) is one `error:` line on
    /// stderr with the nearest name, exit 2; help is printed only when asked for (--help).
    /// </summary>
    public static int Run(string[] args)
    {
        var parse = Build().Parse(args);
        bool help = args.Any(a => a is "--help" or "-h" or "-?");
        if (parse.Errors.Count == 0 || help) return parse.Invoke();
        var command = parse.CommandResult.Command;
        string path = string.Join(' ', parse.CommandResult.Command.Parents.OfType<Command>().Reverse().Skip(1).Select(c => c.Name).Append(command.Name)
            .Where(n => n != Build().Name));
        string? unknown = parse.UnmatchedTokens.FirstOrDefault();
        string message = unknown is not null
            ? $"unknown {(unknown.StartsWith('-') ? "option" : command.Subcommands.Count > 0 ? "command" : "argument")} '{unknown}'" +
              (NearestName.Of(unknown, unknown.StartsWith('-') ? command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)) : command.Subcommands.Select(c => c.Name)) is { } near
                  ? $"; did you mean '{near}'?" : "")
            : parse.Errors[0].Message.TrimEnd('.');
        Console.Error.WriteLine($"error: {message} (see `lwf {(path.Length > 0 ? path + " " : "")}--help`)");
        return 2;
    }

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
