using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>Keys and values of the positions already seen, one pair per layer: [B, KV heads, past, D].</summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor?[] _keys, _values;

    public KvCache(int layers)
    {
        _keys = new Tensor?[layers];
        _values = new Tensor?[layers];
    }

    /// <summary>Positions already cached (advanced once per forward, after every layer appended).</summary>
    public long Length { get; private set; }

    /// <summary>Appends this step's keys and values for a layer and returns the whole history.</summary>
    public (Tensor Keys, Tensor Values) Append(int layer, Tensor keys, Tensor values)
    {
        var k = _keys[layer] is { } oldK ? cat([oldK, keys], 2) : keys.alias();
        var v = _values[layer] is { } oldV ? cat([oldV, values], 2) : values.alias();
        _keys[layer]?.Dispose();
        _values[layer]?.Dispose();
        _keys[layer] = k.DetachFromDisposeScope();
        _values[layer] = v.DetachFromDisposeScope();
        return (k, v);
    }

    internal void Advance(long length) => Length += length;

    public void Dispose()
    {
        foreach (var t in _keys) t?.Dispose();
        foreach (var t in _values) t?.Dispose();
    }
}
