using System.Numerics;
using System.Runtime.InteropServices;

namespace Lwf.Grains.Collectives;

/// <summary>
/// Ring all-reduce of one bucket (Patarasuk &amp; Yuan; what NCCL and Horovod run): the bucket is cut into one
/// segment per rank; in N−1 reduce-scatter steps each rank sends a segment to its right neighbour and adds the one
/// from its left, so that each rank ends up with one whole segment of the sum; in N−1 all-gather steps the whole
/// segments go round. Each rank sends 2(N−1)/N of the bucket. Segment s is summed starting at rank s and then in
/// ring order, so a layout always adds in the same order: the result is bit-identical from run to run.
/// </summary>
public static class RingAllReduce
{
    /// <summary>Sends a frame under a key to the right neighbour.</summary>
    public delegate Task SendRight(string key, ReadOnlyMemory<byte> bytes);

    /// <summary>Receives the frame the left neighbour sent under a key; the caller calls the returned release action once used.</summary>
    public delegate Task<(ReadOnlyMemory<byte> Bytes, Action Release)> ReceiveLeft(string key);

    public static async Task RunAsync(Memory<byte> bucket, RingElement element, int rank, int world, string key, SendRight send, ReceiveLeft receive)
    {
        if (world <= 1) return;
        int size = element == RingElement.Float32 ? 4 : 8;
        long count = bucket.Length / size;
        Memory<byte> Segment(int s)
        {
            s = ((s % world) + world) % world;
            long from = count * s / world, to = count * (s + 1) / world;
            return bucket.Slice((int)(from * size), (int)((to - from) * size));
        }
        for (int k = 0; k < world - 1; k++)
        {
            string step = FrameKeys.ReduceScatter(key, k);
            var sending = send(step, Segment(rank - k));
            var (bytes, release) = await receive(step).ConfigureAwait(false);
            try
            {
                var into = Segment(rank - k - 1);
                if (bytes.Length != into.Length) throw new InvalidDataException($"{step}: {bytes.Length} bytes arrived, {into.Length} expected");
                Add(into.Span, bytes.Span, element);
            }
            finally
            {
                release();
            }
            await sending.ConfigureAwait(false);
        }
        for (int k = 0; k < world - 1; k++)
        {
            string step = FrameKeys.AllGather(key, k);
            var sending = send(step, Segment(rank + 1 - k));
            var (bytes, release) = await receive(step).ConfigureAwait(false);
            try
            {
                var into = Segment(rank - k);
                if (bytes.Length != into.Length) throw new InvalidDataException($"{step}: {bytes.Length} bytes arrived, {into.Length} expected");
                bytes.Span.CopyTo(into.Span);
            }
            finally
            {
                release();
            }
            await sending.ConfigureAwait(false);
        }
    }

    /// <summary>into += from, element by element (vectorised).</summary>
    public static void Add(Span<byte> into, ReadOnlySpan<byte> from, RingElement element)
    {
        if (element == RingElement.Float32) Add(MemoryMarshal.Cast<byte, float>(into), MemoryMarshal.Cast<byte, float>(from));
        else Add(MemoryMarshal.Cast<byte, double>(into), MemoryMarshal.Cast<byte, double>(from));
    }

    private static void Add<T>(Span<T> into, ReadOnlySpan<T> from) where T : struct, INumber<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vi = MemoryMarshal.Cast<T, Vector<T>>(into);
            var vf = MemoryMarshal.Cast<T, Vector<T>>(from);
            for (int v = 0; v < vi.Length; v++) vi[v] += vf[v];
            i = vi.Length * Vector<T>.Count;
        }
        for (; i < into.Length; i++) into[i] += from[i];
    }
}
