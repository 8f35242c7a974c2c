using Lwf.Abstractions;
using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>
/// Named tensors as one flat buffer held in chunks (so a model of any size fits, whatever the 2 GiB array
/// limit), described by a <see cref="TensorManifest"/>. Chunks default to 16 MiB: on loopback TCP, Orleans
/// moves 16 MiB byte[] calls at ≈1.3 GB/s, well under its 100 MiB message limit (DESIGN.md §4).
/// </summary>
public sealed class PackedTensors
{
    public const int DefaultChunkBytes = 16 * 1024 * 1024;

    private PackedTensors(TensorManifest manifest, byte[][] chunks)
    {
        Manifest = manifest;
        Chunks = chunks;
    }

    public TensorManifest Manifest { get; }
    public byte[][] Chunks { get; private set; }

    /// <summary>
    /// Hands a fetched set's chunk buffers back for the next fetch (its tensors must have been read): with
    /// fresh 16 MiB arrays for every transfer, the large-object heap's collections cost more than the copy.
    /// </summary>
    public void Release()
    {
        foreach (var chunk in Chunks) ChunkBuffers.Return(chunk);
        Chunks = [];
    }

    public byte[] Chunk(int index) =>
        index >= 0 && index < Chunks.Length ? Chunks[index] : throw new ArgumentOutOfRangeException(nameof(index), $"chunk {index} of {Chunks.Length}");

    /// <summary>Copies the tensors (converted to <paramref name="dtype"/> when given) into chunks.</summary>
    public static PackedTensors Pack(IEnumerable<(string Name, Tensor Tensor)> tensors, ScalarType? dtype = null,
        IReadOnlyDictionary<string, double>? scalars = null, int chunkBytes = DefaultChunkBytes)
    {
        var entries = new List<TensorEntry>();
        var cpu = new List<Tensor>();
        long offset = 0;
        using (var scope = NewDisposeScope())
        {
            foreach (var (name, t) in tensors)
            {
                var c = (dtype is { } d ? t.detach().to(d) : t.detach()).cpu().contiguous();
                long length = c.NumberOfElements * c.ElementSize;
                entries.Add(new TensorEntry(name, c.shape, DTypes.FromScalarType(c.dtype), offset, length));
                cpu.Add(c.MoveToOuterDisposeScope());
                offset += length;
            }
        }
        int count = offset == 0 ? 0 : (int)((offset + chunkBytes - 1) / chunkBytes);
        var chunks = new byte[count][];
        for (int i = 0; i < count; i++) chunks[i] = new byte[(int)Math.Min(chunkBytes, offset - (long)i * chunkBytes)];
        for (int i = 0; i < cpu.Count; i++)
        {
            CopyIn(chunks, chunkBytes, entries[i].Offset, cpu[i].bytes);
            cpu[i].Dispose();
        }
        return new PackedTensors(new TensorManifest(entries.ToArray(), offset, chunkBytes, scalars ?? new Dictionary<string, double>()), chunks);
    }

    /// <summary>Chunk calls kept in flight at once while fetching.</summary>
    public const int FetchesInFlight = 4;

    /// <summary>
    /// Reassembles from chunks, a few in flight: over the data plane from the manifest's URL where there is one, else
    /// (or when that fails) with <paramref name="fetch"/>, a grain call.
    /// </summary>
    public static async Task<PackedTensors> FetchAsync(TensorManifest manifest, Func<int, Task<byte[]>> fetch)
    {
        var chunks = new byte[manifest.ChunkCount][];
        int next = 0;
        async Task Worker()
        {
            for (int i; (i = Interlocked.Increment(ref next) - 1) < chunks.Length;)
            {
                long expected = Math.Min(manifest.ChunkBytes, manifest.TotalBytes - (long)i * manifest.ChunkBytes);
                chunks[i] = (manifest.Url is { } url ? await TensorWire.TryFetchAsync(url, i, (int)expected, ChunkBuffers.Rent) : null) ?? await fetch(i);
                if (chunks[i].Length != expected) throw new InvalidDataException($"chunk {i} has {chunks[i].Length} bytes, expected {expected}");
            }
        }
        await Task.WhenAll(Enumerable.Range(0, Math.Min(FetchesInFlight, Math.Max(1, chunks.Length))).Select(_ => Worker()));
        return new PackedTensors(manifest, chunks);
    }

    /// <summary>One tensor on the CPU in its packed dtype.</summary>
    public Tensor Read(TensorEntry entry)
    {
        var tensor = empty(entry.Shape, DTypes.ToScalarType(entry.DType));
        if (entry.Length > 0) CopyOut(Chunks, Manifest.ChunkBytes, entry.Offset, tensor.bytes);
        return tensor;
    }

    public IEnumerable<(string Name, Tensor Tensor)> ReadAll() => Manifest.Tensors.Select(e => (e.Name, Read(e)));

    private static void CopyIn(byte[][] chunks, int chunkBytes, long offset, ReadOnlySpan<byte> source)
    {
        while (source.Length > 0)
        {
            int chunk = (int)(offset / chunkBytes), at = (int)(offset % chunkBytes);
            int n = Math.Min(source.Length, chunks[chunk].Length - at);
            source[..n].CopyTo(chunks[chunk].AsSpan(at));
            source = source[n..];
            offset += n;
        }
    }

    private static void CopyOut(byte[][] chunks, int chunkBytes, long offset, Span<byte> target)
    {
        while (target.Length > 0)
        {
            int chunk = (int)(offset / chunkBytes), at = (int)(offset % chunkBytes);
            int n = Math.Min(target.Length, chunks[chunk].Length - at);
            chunks[chunk].AsSpan(at, n).CopyTo(target);
            target = target[n..];
            offset += n;
        }
    }
}

/// <summary>Received chunk buffers kept for reuse, by exact length, up to a byte budget (process-wide).</summary>
internal static class ChunkBuffers
{
    private const long MaxRetainedBytes = 1L << 30;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, System.Collections.Concurrent.ConcurrentBag<byte[]>> Free = new();
    private static long _retained;

    /// <summary>A buffer of exactly <paramref name="length"/> bytes, not zeroed (the caller overwrites every byte).</summary>
    public static byte[] Rent(int length)
    {
        if (Free.TryGetValue(length, out var bag) && bag.TryTake(out var buffer))
        {
            Interlocked.Add(ref _retained, -length);
            return buffer;
        }
        return GC.AllocateUninitializedArray<byte>(length);
    }

    public static void Return(byte[] buffer)
    {
        if (buffer.Length < 1 << 20 || Interlocked.Add(ref _retained, buffer.Length) > MaxRetainedBytes)
        {
            if (buffer.Length >= 1 << 20) Interlocked.Add(ref _retained, -buffer.Length);
            return;
        }
        Free.GetOrAdd(buffer.Length, _ => []).Add(buffer);
    }
}
