using System.Buffers;
using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Core.Collectives;
using Lwf.Grains.Transport;
using static TorchSharp.torch;

namespace Lwf.Grains.Collectives;

/// <summary>
/// The cluster's <see cref="ICollective"/>: tensors are laid, in order, into buckets of at most
/// the bucket size the job sets (float32 stays float32 on the wire; float64 sums stay float64), and each bucket is
/// all-reduced around the ring over the data plane. A bucket that is copied off the device (a GPU's, or small
/// tensors gathered) is staged while the one before it travels, so at most two are off the device at once: the
/// transfer memory is bounded by twice the bucket size, not by the model's.
/// </summary>
public sealed class RingCollective(DataPlane plane, RingLayout ring, string operationKey, TimeSpan timeout, int bucketBytes,
    CancellationToken abort, Telemetry.LwfMetrics? metrics = null) : ICollective
{
    public int Rank => ring.Rank;

    public int WorldSize => ring.WorldSize;

    private string RightNeighbour => ring.Endpoints[(ring.Rank + 1) % ring.WorldSize];

    /// <summary>What the keys of this operation start with (to discard its frames when it is aborted).</summary>
    public string KeyPrefix => FrameKeys.Prefix(operationKey);

    public async Task AllReduceAsync(IReadOnlyList<Tensor> tensors, double[] scalars, CancellationToken cancellation)
    {
        if (WorldSize == 1) return;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, abort);
        var token = linked.Token;
        var clock = Stopwatch.StartNew();
        int bucket = 0;
        // Buckets that must be copied off the device (small tensors, GPU tensors) are staged one ahead: the next
        // bucket's copy runs while this one travels the ring, and at most two buckets are off the device at once.
        Task<Staged>? ahead = null;
        try
        {
            using var buckets = Buckets(tensors).GetEnumerator();
            bool more = buckets.MoveNext();
            while (more)
            {
                var (element, slices) = buckets.Current;
                more = buckets.MoveNext();
                if (slices is [{ InPlace: true } whole])
                {
                    // A stretch of one CPU tensor: reduced where it lies, no copy in or out.
                    using var memory = whole.Native();
                    await Run(memory.Memory, element, FrameKeys.Bucket(operationKey, bucket++), token).ConfigureAwait(false);
                    continue;
                }
                var staged = ahead is null ? Staged.CopyOut(element, slices) : await ahead.ConfigureAwait(false);
                ahead = null;
                try
                {
                    if (more && buckets.Current.Slices is not [{ InPlace: true }])
                    {
                        var (nextElement, nextSlices) = buckets.Current;
                        ahead = Task.Run(() => Staged.CopyOut(nextElement, nextSlices), CancellationToken.None);
                    }
                    await Run(staged.Memory, staged.Element, FrameKeys.Bucket(operationKey, bucket++), token).ConfigureAwait(false);
                    staged.CopyIn();
                }
                finally
                {
                    staged.Dispose();
                }
            }
        }
        finally
        {
            if (ahead is not null)
                try { (await ahead.ConfigureAwait(false)).Dispose(); } catch (Exception) { } // the collective failed: the staged copy is not needed
        }
        if (scalars.Length > 0)
        {
            var bytes = new byte[scalars.Length * 8];
            Buffer.BlockCopy(scalars, 0, bytes, 0, bytes.Length);
            await Run(bytes, RingElement.Float64, FrameKeys.Scalars(operationKey), token).ConfigureAwait(false);
            Buffer.BlockCopy(bytes, 0, scalars, 0, bytes.Length);
        }
        metrics?.ReplicaSynced(clock.Elapsed.TotalSeconds);
    }

    private Task Run(Memory<byte> bucket, RingElement element, string key, CancellationToken token) =>
        RingAllReduce.RunAsync(bucket, element, ring.Rank, ring.WorldSize, key,
            (key, bytes) => plane.SendAsync(RightNeighbour, key, bytes, token),
            async key =>
            {
                var payload = await plane.ReceiveAsync(key, timeout, token).ConfigureAwait(false);
                return (payload.Buffer.AsMemory(0, payload.Length), payload.Return);
            });

    /// <summary>The tensors cut into buckets of one element type, in order; a tensor larger than a bucket spans several.</summary>
    private IEnumerable<(RingElement Element, List<TensorSlice> Slices)> Buckets(IReadOnlyList<Tensor> tensors)
    {
        var current = new List<TensorSlice>();
        RingElement? currentElement = null;
        int filled = 0;
        foreach (var tensor in tensors)
        {
            var element = tensor.dtype switch
            {
                ScalarType.Float32 => RingElement.Float32,
                ScalarType.Float64 => RingElement.Float64,
                var d => throw new ArgumentException($"the ring all-reduces float32 and float64 tensors, not {d}"),
            };
            int size = element == RingElement.Float32 ? 4 : 8;
            long offset = 0, count = tensor.numel();
            if (tensor.device_type == TorchSharp.DeviceType.CPU && tensor.is_contiguous() && count * size >= InPlaceBytes)
            {
                // A large CPU tensor goes bucket by bucket in place, in buckets of its own.
                if (currentElement is { } pending && current.Count > 0) yield return (pending, current);
                current = [];
                filled = 0;
                currentElement = null;
                long perBucket = bucketBytes / size;
                for (; offset < count; offset += perBucket)
                    yield return (element, [new TensorSlice(tensor, offset, Math.Min(perBucket, count - offset), size) { InPlace = true }]);
                continue;
            }
            while (offset < count)
            {
                if (currentElement is { } e && (e != element || filled + size > bucketBytes))
                {
                    yield return (e, current);
                    current = [];
                    filled = 0;
                }
                currentElement = element;
                long take = Math.Min(count - offset, (bucketBytes - filled) / size);
                current.Add(new TensorSlice(tensor, offset, take, size));
                filled += (int)(take * size);
                offset += take;
            }
        }
        if (currentElement is { } last && current.Count > 0) yield return (last, current);
    }

    /// <summary>A bucket's slices copied into a pooled buffer, to be reduced there and copied back.</summary>
    private sealed class Staged(RingElement element, List<TensorSlice> slices, byte[] buffer, int bytes) : IDisposable
    {
        public RingElement Element => element;

        public Memory<byte> Memory => buffer.AsMemory(0, bytes);

        public static Staged CopyOut(RingElement element, List<TensorSlice> slices)
        {
            int bytes = slices.Sum(s => s.Bytes);
            var buffer = ArrayPool<byte>.Shared.Rent(bytes);
            int at = 0;
            foreach (var slice in slices) { slice.CopyOut(buffer.AsSpan(at, slice.Bytes)); at += slice.Bytes; }
            return new Staged(element, slices, buffer, bytes);
        }

        public void CopyIn()
        {
            int at = 0;
            foreach (var slice in slices) { slice.CopyIn(buffer.AsSpan(at, slice.Bytes)); at += slice.Bytes; }
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(buffer);
    }

    /// <summary>Tensors of at least this size on the CPU are reduced in place (their memory is the bucket).</summary>
    private const long InPlaceBytes = 1 << 20;

    /// <summary>A stretch of a tensor's elements (flattened), copied to and from a bucket.</summary>
    private sealed class TensorSlice(Tensor tensor, long offset, long count, int elementSize)
    {
        public int Bytes => (int)(count * elementSize);

        public bool InPlace { get; init; }

        /// <summary>The slice's own memory (a contiguous CPU tensor's storage), for the ring to work on in place.</summary>
        public unsafe NativeBytes Native()
        {
            var all = tensor.bytes; // the whole tensor's storage: native memory that does not move
            byte* start = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(all));
            return new NativeBytes(start + offset * elementSize, Bytes);
        }

        private Tensor View() => tensor.view(-1).narrow(0, offset, count);

        public void CopyOut(Span<byte> into)
        {
            using var scope = NewDisposeScope();
            var view = View();
            var cpu = view.device_type == TorchSharp.DeviceType.CPU && view.is_contiguous() ? view : view.cpu().contiguous();
            cpu.bytes.CopyTo(into);
        }

        public void CopyIn(ReadOnlySpan<byte> from)
        {
            using var scope = NewDisposeScope();
            var view = View();
            if (view.device_type == TorchSharp.DeviceType.CPU && view.is_contiguous())
            {
                from.CopyTo(view.bytes);
                return;
            }
            var cpu = empty([count], view.dtype);
            from.CopyTo(cpu.bytes);
            using (no_grad()) view.copy_(cpu);
        }
    }
}

