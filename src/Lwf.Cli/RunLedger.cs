using Lwf.Core.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>
/// The grid's finished runs kept in the repository (`docs/results/runs.jsonl`, one line per run): what
/// `lwf experiment` needs of a run to reuse it (the record of the job file it ran and its wall time, its report, its
/// validation scores), without its model. A grid takes longer than one working session on a machine whose home
/// folder does not outlive it; committed with the results, the ledger lets the next machine go on where this one
/// stopped, and lets anyone re-derive every table figure of results.md from the runs it came from.
/// </summary>
internal sealed class RunLedger
{
    /// <summary>The files of a run folder that the ledger carries (the rest, the model first, only made them).</summary>
    private static readonly string[] Carried = [Commands.ExperimentCommand.RunRecord, Commands.ExperimentCommand.ValidationRecord, Lwf.Core.Reports.ReportWriter.ReportFile];

    private readonly string _path;
    private readonly Dictionary<string, string> _records = new(StringComparer.Ordinal); // run → its run record
    private readonly object _lock = new();

    private RunLedger(string path) => _path = path;

    /// <summary>
    /// Opens the ledger at <paramref name="path"/> (none yet: empty) and puts back, into <paramref name="workDir"/>,
    /// every run folder it holds that is missing there (a run redone later has a later line, which wins); returns the
    /// ledger and how many runs it put back.
    /// </summary>
    public static (RunLedger Ledger, int Restored) Open(string path, string workDir)
    {
        var ledger = new RunLedger(path);
        if (!File.Exists(path)) return (ledger, 0);
        var entries = new Dictionary<string, JsonObject>(StringComparer.Ordinal); // a later line of a run wins
        int line = 0;
        string root = Path.GetFullPath(workDir);
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (text.Length == 0) continue;
            JsonObject entry;
            try { entry = JsonNode.Parse(text)!.AsObject(); }
            catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new LwfInputException($"{path}:{line}: not a ledger line ({e.Message})"); }
            string run = entry["run"]?.GetValue<string>() ?? throw new LwfInputException($"{path}:{line}: no 'run'");
            string full = Path.GetFullPath(Path.Combine(root, run));
            if (run.Contains('\\') || full == root || !Lwf.Core.Jobs.DataRoot.HoldsLexically(root, full))
                throw new LwfInputException($"{path}:{line}: run '{run}' is not a folder inside --work");
            foreach (string file in Carried)
                if (entry[file] is null) throw new LwfInputException($"{path}:{line}: no '{file}'");
            entries[run] = entry;
        }
        int restored = 0;
        foreach (var (run, entry) in entries)
        {
            ledger._records[run] = Text(entry[Carried[0]]!);
            string runDir = Path.Combine(root, run);
            if (Carried.All(f => File.Exists(Path.Combine(runDir, f)))) continue;
            Directory.CreateDirectory(runDir);
            foreach (string file in Carried) AtomicFile.WriteText(Path.Combine(runDir, file), Text(entry[file]!));
            restored++;
        }
        return (ledger, restored);
    }

    /// <summary>A carried file's text: the run record as its line of text, the JSON files as JSON.</summary>
    private static string Text(JsonNode node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : node.ToJsonString();

    /// <summary>Adds a finished run (its folder under <paramref name="workDir"/>) unless the ledger has it as it is.</summary>
    public void Add(string workDir, string runDir)
    {
        string run = Path.GetRelativePath(workDir, runDir).Replace(Path.DirectorySeparatorChar, '/');
        lock (_lock)
        {
            string record = File.ReadAllText(Path.Combine(runDir, Carried[0]));
            if (_records.TryGetValue(run, out string? known) && known == record) return;
            var entry = new JsonObject { ["run"] = run };
            foreach (string file in Carried)
            {
                string text = file == Carried[0] ? record : File.ReadAllText(Path.Combine(runDir, file));
                entry[file] = file.EndsWith(".json", StringComparison.Ordinal) ? JsonNode.Parse(text) : text;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
            // One appended line per run, so that a commit of the ledger shows the runs it added.
            using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
            using var writer = new StreamWriter(stream);
            writer.Write(entry.ToJsonString() + "\n");
            _records[run] = record;
        }
    }
}
