using System.Buffers;
using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Core.Distributed;
using Lwf.Grains.Transport;
using static TorchSharp.torch;

namespace Lwf.Grains.Collectives;

/// <summary>
/// The cluster's <see cref="ICollective"/>: tensors are laid, in order, into buckets of at most
/// <see cref="BucketBytes"/> (float32 stays float32 on the wire; float64 sums stay float64), and each bucket is
/// all-reduced around the ring over the data plane. Only one bucket is off the device at a time, so the transfer
/// memory is bounded by the bucket size, not by the model's.
/// </summary>
public sealed class RingCollective(DataPlane plane, RingLayout ring, string operationKey, TimeSpan timeout, int bucketBytes,
    CancellationToken abort, Telemetry.LwfMetrics? metrics = null) : ICollective
{
    public int Rank => ring.Rank;

    public int WorldSize => ring.WorldSize;

    public int BucketBytes => bucketBytes;

    private string RightNeighbour => ring.Endpoints[(ring.Rank + 1) % ring.WorldSize];

    /// <summary>What the keys of this operation start with (to discard its frames when it is aborted).</summary>
    public string KeyPrefix => operationKey + "/";

    public async Task AllReduceAsync(IReadOnlyList<Tensor> tensors, double[] scalars, CancellationToken cancellation)
    {
        if (WorldSize == 1) return;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellation, abort);
        var token = linked.Token;
        var clock = Stopwatch.StartNew();
        int bucket = 0;
        foreach (var (element, slices) in Buckets(tensors))
        {
            if (slices is [{ InPlace: true } whole])
            {
                // A stretch of one CPU tensor: reduced where it lies, no copy in or out.
                using var memory = whole.Native();
                await Run(memory.Memory, element, $"b{bucket++}", token).ConfigureAwait(false);
                continue;
            }
            int bytes = slices.Sum(s => s.Bytes);
            var buffer = ArrayPool<byte>.Shared.Rent(bytes);
            try
            {
                int at = 0;
                foreach (var slice in slices) { slice.CopyOut(buffer.AsSpan(at, slice.Bytes)); at += slice.Bytes; }
                await Run(buffer.AsMemory(0, bytes), element, $"b{bucket++}", token).ConfigureAwait(false);
                at = 0;
                foreach (var slice in slices) { slice.CopyIn(buffer.AsSpan(at, slice.Bytes)); at += slice.Bytes; }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        if (scalars.Length > 0)
        {
            var bytes = new byte[scalars.Length * 8];
            Buffer.BlockCopy(scalars, 0, bytes, 0, bytes.Length);
            await Run(bytes, RingElement.Float64, "scalars", token).ConfigureAwait(false);
            Buffer.BlockCopy(bytes, 0, scalars, 0, bytes.Length);
        }
        metrics?.ReplicaSynced(clock.Elapsed.TotalSeconds);
    }

    private Task Run(Memory<byte> bucket, RingElement element, string name, CancellationToken token) =>
        RingAllReduce.RunAsync(bucket, element, ring.Rank, ring.WorldSize, KeyPrefix + name,
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

    /// <summary>A stretch of a tensor's elements (flattened), copied to and from a bucket.</summary>
    /// <summary>Tensors of at least this size on the CPU are reduced in place (their memory is the bucket).</summary>
    private const long InPlaceBytes = 1 << 20;

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

