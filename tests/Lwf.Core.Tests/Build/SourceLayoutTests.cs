using System.Text.RegularExpressions;

namespace Lwf.Core.Tests.Build;

/// <summary>How src/ is laid out, read from the sources: a newcomer finds a type by its file's name.</summary>
public partial class SourceLayoutTests
{
    /// <summary>
    /// Files that hold more than one type, on purpose. A model family is one readable file, as nanoGPT's: its layers
    /// (attention, MLP, block, model, LM head) are read together, top to bottom, and used nowhere else.
    /// </summary>
    private static readonly Dictionary<string, string> ManyTypes = new()
    {
        ["src/Lwf.Core/Models/Gpt2.cs"] = "the GPT-2 family in one file",
        ["src/Lwf.Core/Models/Llama.cs"] = "the Llama family in one file",
    };

    // A type declared at the file-scoped namespace's level (column 0), with its modifiers.
    [GeneratedRegex(@"^(?:(?:public|internal|sealed|static|abstract|partial|readonly|file|unsafe)\s+)*(?:class|record struct|record class|record|struct|interface|enum)\s+([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.Multiline)]
    private static partial Regex TopLevelType();

    [Fact]
    public void Every_source_file_holds_one_type_named_after_it()
    {
        var wrong = new List<string>();
        foreach (string file in SourceFiles())
        {
            string relative = Path.GetRelativePath(TestPaths.RepoRoot, file).Replace('\\', '/');
            if (ManyTypes.ContainsKey(relative) || Path.GetFileName(file) == "Program.cs") continue;
            var types = TopLevelType().Matches(File.ReadAllText(file)).Select(m => m.Groups[1].Value).ToList();
            string name = Path.GetFileNameWithoutExtension(file);
            if (types is not [var only] || only != name)
                wrong.Add($"{relative}: {(types.Count == 0 ? "no type" : string.Join(", ", types))}");
        }
        Assert.True(wrong.Count == 0, "files that do not hold one type named after them:\n" + string.Join("\n", wrong));
        Assert.All(ManyTypes.Keys, f => Assert.True(File.Exists(Path.Combine(TestPaths.RepoRoot, f)), $"{f} is listed but gone"));
    }

    /// <summary>
    /// Literals that are a stage's or a ring operation's name but mean something else there, by file: the job file's
    /// sections and the CLI's command names.
    /// </summary>
    private static readonly Dictionary<string, string[]> OtherMeanings = new()
    {
        ["src/Lwf.Core/Jobs/JobSpec.cs"] = ["fisher", "checkpoint"],
        ["src/Lwf.Cli/Commands/ForgettingCommands.cs"] = ["fisher", "confidence"],
        ["src/Lwf.Cli/Commands/BenchCommands.cs"] = ["confidence"],
    };

    // A string literal's text (regular, verbatim or interpolated; the holes stay in the text).
    [GeneratedRegex(@"\$?@?""((?:[^""\\\n]|\\.)*)""")]
    private static partial Regex StringLiteral();

    // A frame key's parts: the epoch, bucket and ring-step segments that FrameKeys builds.
    [GeneratedRegex(@"/(?:e|b|rs|ag)\{")]
    private static partial Regex FramePart();

    [Fact]
    public void Stage_operation_and_frame_names_are_written_once()
    {
        var names = Enum.GetValues<Lwf.Core.Jobs.JobStage>().Select(Lwf.Core.Jobs.JobStages.Name)
            .Concat(Enum.GetValues<Lwf.Grains.Collectives.RingOperation>().Select(Lwf.Grains.Collectives.FrameKeys.Name)).ToHashSet();
        string[] definitions = ["src/Lwf.Core/Jobs/JobStages.cs", "src/Lwf.Grains/Collectives/FrameKeys.cs"];
        var found = new List<string>();
        foreach (string file in SourceFiles())
        {
            string relative = Path.GetRelativePath(TestPaths.RepoRoot, file).Replace('\\', '/');
            if (definitions.Contains(relative)) continue;
            var allowed = OtherMeanings.GetValueOrDefault(relative, []);
            foreach (var (line, number) in File.ReadLines(file).Select((l, i) => (l, i + 1)))
            {
                if (line.TrimStart().StartsWith("//", StringComparison.Ordinal)) continue;
                foreach (Match m in StringLiteral().Matches(line))
                {
                    string text = m.Groups[1].Value;
                    if (names.Contains(text) && !allowed.Contains(text)) found.Add($"{relative}:{number}: \"{text}\"");
                    if (FramePart().IsMatch(text)) found.Add($"{relative}:{number}: a frame key, {m.Value}");
                }
            }
        }
        Assert.True(found.Count == 0, "names of stages, ring operations or frames outside JobStages and FrameKeys:\n" + string.Join("\n", found));
    }

    private static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(Path.Combine(TestPaths.RepoRoot, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));
}
