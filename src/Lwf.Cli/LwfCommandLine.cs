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
              (Nearest(unknown, unknown.StartsWith('-') ? command.Options.SelectMany(o => o.Aliases.Prepend(o.Name)) : command.Subcommands.Select(c => c.Name)) is { } near
                  ? $"; did you mean '{near}'?" : "")
            : parse.Errors[0].Message.TrimEnd('.');
        Console.Error.WriteLine($"error: {message} (see `lwf {(path.Length > 0 ? path + " " : "")}--help`)");
        return 2;
    }

    /// <summary>The candidate within a few edits of <paramref name="typed"/>, if one is clearly nearest.</summary>
    private static string? Nearest(string typed, IEnumerable<string> candidates)
    {
        var ranked = candidates.Distinct().Select(c => (Name: c, Distance: Distance(typed, c))).OrderBy(c => c.Distance).ToList();
        return ranked.Count > 0 && ranked[0].Distance <= Math.Max(2, typed.Length / 3) ? ranked[0].Name : null;
    }

    /// <summary>Edit distance with adjacent transpositions ('trian' is one edit from 'train').</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
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
