namespace Lwf.Abstractions;

/// <summary>
/// A shard grain's key: its job and its index, as "{job}/{index}". Job ids hold no '/' (letters, digits, '.', '_'
/// and '-'), so the last '/' splits the two. The placement spreads shards over the silos by the index.
/// </summary>
public readonly record struct ShardKey(string JobId, int Index)
{
    public override string ToString() => $"{JobId}/{Index}";

    /// <summary>The key <paramref name="key"/> names; a key that is not a shard's is an error.</summary>
    public static ShardKey Parse(string key) => TryParse(key, out var shard) ? shard
        : throw new FormatException($"'{key}' is not a shard key (JOB/INDEX)");

    public static bool TryParse(string key, out ShardKey shard)
    {
        int slash = key.LastIndexOf('/');
        if (slash > 0 && int.TryParse(key.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int index))
        {
            shard = new ShardKey(key[..slash], index);
            return true;
        }
        shard = default;
        return false;
    }
}
