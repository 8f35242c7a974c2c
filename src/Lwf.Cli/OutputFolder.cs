using System.CommandLine;
using Lwf.Core;

namespace Lwf.Cli;

/// <summary>
/// The Hugging Face example scripts' `overwrite_output_dir` rule for every command that writes a run's folder (`train`,
/// `run`, `demo`): a folder that holds anything is refused before anything is touched, naming what is there and how
/// to go on, unless the user says `--overwrite-output-dir` (or `--resume`, where the command can go on from a checkpoint).
/// </summary>
internal static class OutputFolder
{
    public const string OverwriteFlag = "--overwrite-output-dir";

    public static Option<bool> OverwriteOption() => new(OverwriteFlag) { Description = "write into an --out that holds an earlier run (the run replaces its files)" };

    /// <param name="canResume">The command has --resume: offered when the folder holds checkpoints.</param>
    public static void Check(string outDir, bool overwrite, bool canResume = false)
    {
        if (File.Exists(outDir)) throw new LwfInputException($"{outDir}: --out is a file; a run writes a folder");
        if (overwrite || !Directory.Exists(outDir)) return;
        var entries = Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (entries.Count == 0) return;
        bool checkpoints = entries.Any(e => e.StartsWith(Core.Checkpoints.CheckpointStore.Prefix, StringComparison.Ordinal));
        string shown = string.Join(", ", entries.Take(6)) + (entries.Count > 6 ? $" and {entries.Count - 6} more" : "");
        throw new LwfInputException($"{outDir}: --out already holds {shown}; nothing was touched. " +
            (canResume && checkpoints ? "Go on from its newest checkpoint with --resume, or start afresh over it with " : "Write over it with ") +
            $"{OverwriteFlag}, or choose another --out");
    }
}
