using System.CommandLine;
using Lwf.Cli.Commands;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>The `lwf` command tree. Every command reports user errors as one line on stderr, exit code 2.</summary>
public static class LwfCommandLine
{
    private const string Title = "lwf: fine-tune generative language models with Learning With Forgetting";

    /// <summary>The commands as `lwf --help` groups them; the tree is built from this list alone.</summary>
    private static List<(string Group, List<Command> Commands)> Groups() =>
    [
        ("Run and train", [DemoCommand.Build(), TrainCommand.Build(), RunCommand.Build(), FinetuneCommand.Build(), GenerateCommand.Build()]),
        ("Cluster", [.. ClusterCommands.Build()]),
        ("Jobs on a cluster", [.. JobCommands.Build()]),
        ("Data and models", [DataCommands.Build(), PretrainCommand.Build(), ModelCommands.Build()]),
        ("LWF's stages one at a time", [.. ForgettingCommands.Build()]),
        ("For developers", [ExperimentCommand.Build(), BenchCommands.Build(), SoakCommand.Build()]),
    ];

    public static RootCommand Build()
    {
        var root = new RootCommand(Title);
        foreach (var (_, commands) in Groups())
            foreach (var c in commands) root.Subcommands.Add(c);
        return root;
    }

    /// <summary>What `lwf`, `lwf --help` print: the commands by group, at most <see cref="HelpWidth"/> columns, and three examples.</summary>
    public static string RootHelp()
    {
        var groups = Groups();
        static string Name(Command c) => string.Join(' ', c.Arguments.Select(a => $"<{a.Name}>").Prepend(c.Name));
        int width = groups.SelectMany(g => g.Commands).Max(c => Name(c).Length) + 2;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine(Title);
        sb.AppendLine();
        sb.AppendLine("Usage: lwf COMMAND [options]      lwf COMMAND --help: a command's options");
        foreach (var (group, commands) in groups)
        {
            sb.AppendLine();
            sb.AppendLine(group + ":");
            foreach (var c in commands)
                foreach (var (line, i) in Wrap(c.Description ?? "", HelpWidth - 2 - width).Select((l, i) => (l, i)))
                    sb.AppendLine("  " + (i == 0 ? Name(c) : "").PadRight(width) + line);
        }
        sb.AppendLine();
        sb.AppendLine("Examples:");
        sb.AppendLine("  lwf demo --out /tmp/lwf-demo                        # vanilla against LWF on this machine");
        sb.AppendLine("  lwf train cluster/jobs/tiny-lwf.yaml --out /tmp/t   # one job in this process");
        sb.AppendLine("  lwf cluster up && lwf submit JOB.yaml --wait        # the same job on silo processes");
        return sb.ToString();
    }

    /// <summary>The width `lwf --help` keeps to.</summary>
    public const int HelpWidth = 100;

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new System.Text.StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        yield return line.ToString();
    }

    /// <summary>
    /// Parses and runs. A command-line mistake (an unknown command or option, a missing value) is one `error:` line on
    /// stderr with the nearest name, exit 2; help is printed only when asked for (--help).
    /// </summary>
    public static int Run(string[] args)
    {
        if (args is [] or ["--help" or "-h" or "-?"])
        {
            Console.Write(RootHelp());
            return 0;
        }
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
        catch (Exception e) when (ClusterPatience.IsTransient(e))
        {
            // The cluster, not the input: no stack trace, the cluster's own words (their first line).
            Console.Error.WriteLine($"error: the cluster did not answer: {e.Message.Split('\n')[0].Trim()}");
            return 1;
        }
    };
}
