using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lwf.Core.Training;

namespace Lwf.Core.Tasks;

/// <summary>Seeded, overlap-free splits and the small text helpers the builders share.</summary>
public static partial class TaskSplits
{
    /// <summary>Lower case, single spaces: two items with one key are the same question.</summary>
    public static string Key(string text) => Spaces().Replace(text.Trim().ToLowerInvariant(), " ");

    /// <summary>Distinct by key, in a seeded order, cut into (first, second): never an item in both.</summary>
    public static (List<T> First, List<T> Second) Split<T>(IEnumerable<T> items, Func<T, string> key, int firstCount, int secondCount, long seed)
    {
        var distinct = items.GroupBy(i => Key(key(i))).Select(g => g.First()).OrderBy(i => Key(key(i)), StringComparer.Ordinal).ToArray();
        new Random(Seeds.ForRandom(seed, 17)).Shuffle(distinct);
        int second = Math.Min(secondCount, distinct.Length / 2);
        int first = Math.Min(firstCount, distinct.Length - second);
        return (distinct.Skip(second).Take(first).ToList(), distinct.Take(second).ToList());
    }

    /// <summary>
    /// <paramref name="count"/> of the records, evenly spaced (so a set built from several sources, as the mixed task's,
    /// gives each its share), and the rest: (kept, taken), never a record in both.
    /// </summary>
    public static (List<T> Kept, List<T> Taken) Carve<T>(IReadOnlyList<T> records, int count)
    {
        count = Math.Clamp(count, 0, records.Count);
        var taken = Enumerable.Range(0, count).Select(k => (int)((long)k * records.Count / count)).ToHashSet();
        return (records.Where((_, i) => !taken.Contains(i)).ToList(), records.Where((_, i) => taken.Contains(i)).ToList());
    }

    /// <summary>A multiple-choice record: the answer among distractors, in a seeded order.</summary>
    public static JsonObject MultipleChoice(string prompt, string answer, IEnumerable<string> distractors, Random random)
    {
        var choices = distractors.Where(d => Key(d) != Key(answer)).Distinct().Take(3).Append(answer).ToArray();
        random.Shuffle(choices);
        return new JsonObject
        {
            ["prompt"] = prompt,
            ["choices"] = new JsonArray(choices.Select(c => (JsonNode)c).ToArray()),
            ["answer"] = Array.IndexOf(choices, answer),
        };
    }

    /// <summary>k items other than <paramref name="except"/>, drawn with <paramref name="random"/>.</summary>
    public static IEnumerable<string> Others(IReadOnlyList<string> pool, string except, int k, Random random)
    {
        for (int taken = 0, tries = 0; taken < k && tries < 50 * k; tries++)
        {
            string candidate = pool[random.Next(pool.Count)];
            if (Key(candidate) == Key(except)) continue;
            taken++;
            yield return candidate;
        }
    }

    public static JsonObject PromptResponse(string prompt, string response) => new() { ["prompt"] = prompt, ["response"] = response };

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
