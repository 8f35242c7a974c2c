namespace Lwf.Abstractions;

/// <summary>
/// One tensor inside a flat byte buffer: its Hugging Face name, shape, dtype (safetensors names: F32, F64,
/// BF16, ...) and byte offset. Tensors cross silos as such a manifest plus the buffer cut into chunks well
/// under Orleans' message-size limit: never as float[] (Orleans writes a header per element).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TensorEntry(
    [property: Id(0)] string Name,
    [property: Id(1)] long[] Shape,
    [property: Id(2)] string DType,
    [property: Id(3)] long Offset,
    [property: Id(4)] long Length);

/// <summary>
/// A set of tensors in one buffer of TotalBytes, served in chunks of ChunkBytes (the last may be shorter).
/// Url, when set, is where the holding silo serves the chunks over HTTP (Url/CHUNK): the bulk path; grain
/// calls for the chunks remain the fallback.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TensorManifest(
    [property: Id(0)] TensorEntry[] Tensors,
    [property: Id(1)] long TotalBytes,
    [property: Id(2)] int ChunkBytes,
    [property: Id(3)] IReadOnlyDictionary<string, double> Scalars,
    [property: Id(4)] string? Url = null)
{
    public int ChunkCount => TotalBytes == 0 ? 0 : (int)((TotalBytes + ChunkBytes - 1) / ChunkBytes);
}
