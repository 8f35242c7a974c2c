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

    public int[] Next(int n)
    {
        var result = new int[n];
        for (int i = 0; i < n; i++)
        {
            if (_position == _order.Length) Reshuffle();
            result[i] = _order[_position++];
        }
        return result;
    }

    private void Reshuffle()
    {
        Epoch++;
        _order = Enumerable.Range(0, count).ToArray();
        new Random(Seeds.ForRandom(seed, Epoch)).Shuffle(_order);
        _position = 0;
    }
}
