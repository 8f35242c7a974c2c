namespace Lwf.Core.Training;

/// <summary>
/// Record indices in a fresh seeded permutation each epoch, read as one endless stream: the same seed gives
/// the same order on every machine (System.Random with a seed is a fixed algorithm).
/// </summary>
public sealed class EpochSampler(int count, long seed)
{
    private int[] _order = [];
    private int _position;

    public int Epoch { get; private set; } = -1;

    /// <summary>Indices handed out so far (a checkpoint stores it; <see cref="Skip"/> restores the position).</summary>
    public long Drawn { get; private set; }

    public int[] Next(int n)
    {
        var result = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (_position == _order.Length) Reshuffle();
            result[i] = _order[_position++];
        }
        Drawn += n;
        return result;
    }

    /// <summary>Moves on by <paramref name="n"/> indices, as if they had been drawn.</summary>
    public void Skip(long n)
    {
        while (n > 0)
        {
            if (_position == _order.Length) Reshuffle();
            int take = (int)Math.Min(n, _order.Length - _position);
            _position += take;
            Drawn += take;
            n -= take;
        }
    }

    private void Reshuffle()
    {
        Epoch++;
        _order = Enumerable.Range(0, count).ToArray();
        new Random(Seeds.ForRandom(seed, Epoch)).Shuffle(_order);
        _position = 0;
    }
}
