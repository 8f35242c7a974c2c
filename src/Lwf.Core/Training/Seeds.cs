namespace Lwf.Core.Training;

/// <summary>
/// Derives seeds from seeds (a job seed with an epoch, a record index, ...) the same way in every process.
/// .NET's HashCode is randomised per process, so it must never feed a seed.
/// </summary>
public static class Seeds
{
    /// <summary>SplitMix64 over the parts: a fixed, well-mixed function of all of them.</summary>
    public static long Combine(params long[] parts)
    {
        ulong state = 0x9E3779B97F4A7C15UL;
        foreach (var part in parts)
        {
            state ^= (ulong)part;
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            state = z ^ (z >> 31);
        }
        return (long)state;
    }

    /// <summary>A System.Random seed (an int) from the parts.</summary>
    public static int ForRandom(params long[] parts) => (int)(Combine(parts) & 0x7FFFFFFF);
}
