namespace Lwf.Grains.Collectives;

/// <summary>Native memory (a tensor's storage, kept alive by its owner) as <see cref="Memory{T}"/> for the ring.</summary>
internal sealed unsafe class NativeBytes(byte* pointer, int length) : System.Buffers.MemoryManager<byte>
{
    public override Span<byte> GetSpan() => new(pointer, length);

    public override System.Buffers.MemoryHandle Pin(int elementIndex = 0) => new(pointer + elementIndex);

    public override void Unpin() { }

    protected override void Dispose(bool disposing) { }
}
