using System.Buffers;

namespace Lwf.Grains.Transport;

/// <summary>A received frame's bytes in a pooled buffer; <see cref="Return"/> hands the buffer back once it has been used.</summary>
public readonly record struct Payload(byte[] Buffer, int Length)
{
    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

    public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
}
