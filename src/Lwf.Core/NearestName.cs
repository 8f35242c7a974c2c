namespace Lwf.Core;

/// <summary>"Did you mean …?" for a mistyped key, command or option: the nearest known name by edit distance.</summary>
public static class NearestName
{
    /// <summary>The candidate nearest to <paramref name="typed"/> if it is within <paramref name="maxEdits"/> edits (default: 2, or a third of its length); else null.</summary>
    public static string? Of(string typed, IEnumerable<string> candidates, int? maxEdits = null)
    {
        int limit = maxEdits ?? Math.Max(2, typed.Length / 3);
        return candidates.Distinct().Select(c => (Name: c, Edits: Distance(typed, c))).Where(c => c.Edits <= limit)
            .OrderBy(c => c.Edits).Select(c => c.Name).FirstOrDefault();
    }

    /// <summary>Edits (insert, delete, substitute, swap two neighbours) between two names, ignoring case: 'trian' is one from 'train'.</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 2])
                    && char.ToLowerInvariant(a[i - 2]) == char.ToLowerInvariant(b[j - 1]))
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
