using Lwf.Core.IO;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Lwf.Core.Checkpoints;

/// <summary>
/// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length,
/// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}}, then the raw little-endian data.
/// Every header is checked against the file before a byte of data is trusted.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;
    private readonly FileStream _stream;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafeTensorEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, FileStream stream, long dataStart,
        Dictionary<string, SafeTensorEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _stream = stream; _dataStart = dataStart; Entries = entries; Metadata = metadata;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new LwfInputException($"{path}: file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            var (dataStart, entries, metadata) = ReadHeader(path, stream);
            return new SafeTensorsFile(path, stream, dataStart, entries, metadata);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    private static (long, Dictionary<string, SafeTensorEntry>, Dictionary<string, string>) ReadHeader(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        if (fileLength < 8) throw new LwfInputException($"{path}: not a safetensors file (only {fileLength} bytes; the header length alone takes 8)");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        long headerLength = BitConverter.ToInt64(lengthBytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes)
            throw new LwfInputException($"{path}: header length {headerLength} is outside 1..{MaxHeaderBytes} bytes: not a safetensors file");
        if (8 + headerLength > fileLength)
            throw new LwfInputException($"{path}: truncated: the header says it is {headerLength} bytes but the file has {fileLength - 8} after the length");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            // A name given twice: which of its tensors is meant would be anyone's guess.
            using (var document = JsonDocument.Parse(headerBytes))
                if (document.RootElement.ValueKind == JsonValueKind.Object)
                {
                    var seen = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var property in document.RootElement.EnumerateObject())
                        if (!seen.Add(property.Name)) throw new LwfInputException($"{path}: the header names tensor '{property.Name}' twice");
                }
            header = JsonNode.Parse(headerBytes) as JsonObject
                ?? throw new LwfInputException($"{path}: the header is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new LwfInputException($"{path}: the header is not valid JSON: {e.Message}");
        }

        long dataStart = 8 + headerLength;
        long dataLength = fileLength - dataStart;
        var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (k, v) in meta) metadata[k] = v?.ToString() ?? "";
                continue;
            }
            entries[name] = ParseEntry(path, name, node, dataLength);
        }
        long covered = 0;
        foreach (var e in entries.Values.OrderBy(e => e.Begin))
        {
            if (e.Begin < covered && e.ByteLength > 0)
                throw new LwfInputException($"{path}: tensor '{e.Name}' overlaps another tensor's bytes (offset {e.Begin} < {covered})");
            covered = Math.Max(covered, e.End);
        }
        return (dataStart, entries, metadata);
    }

    private static SafeTensorEntry ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        if (node is not JsonObject obj) throw new LwfInputException($"{path}: tensor '{name}': entry is not an object");
        var entry = new JsonFields(obj, $"{path}: tensor '{name}'");
        string dtype = entry.String("dtype") ?? throw entry.Missing("dtype");
        int elementSize = DTypes.ElementSize(dtype) ?? throw new LwfInputException($"{path}: tensor '{name}': unsupported dtype '{dtype}'");
        long[] shape = entry.LongList("shape") ?? throw entry.Missing("shape");
        if (entry.LongList("data_offsets") is not [var begin, var end]) throw new LwfInputException($"{path}: tensor '{name}': data_offsets must be [begin, end]");
        if (shape.Any(d => d < 0)) throw new LwfInputException($"{path}: tensor '{name}': negative dimension in shape [{string.Join(",", shape)}]");
        long elements, expected;
        try
        {
            elements = shape.Aggregate(1L, (a, d) => checked(a * d));
            expected = checked(elements * elementSize);
        }
        catch (OverflowException)
        {
            throw new LwfInputException($"{path}: tensor '{name}': shape [{string.Join(",", shape)}] is more bytes than a file can hold");
        }
        if (begin < 0 || end < begin)
            throw new LwfInputException($"{path}: tensor '{name}': data_offsets [{begin}, {end}] are not an increasing pair");
        if (end - begin != expected)
            throw new LwfInputException($"{path}: tensor '{name}': the header says {dtype} [{string.Join(",", shape)}] = {expected} bytes, but data_offsets span {end - begin}");
        if (end > dataLength)
            throw new LwfInputException($"{path}: truncated or lying header: tensor '{name}' ends at byte {end} of the data, but the file holds only {dataLength} data bytes");
        return new SafeTensorEntry(name, dtype, shape, begin, end);
    }

    /// <summary>Reads one tensor onto the CPU in its stored dtype.</summary>
    public Tensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var entry)) throw new LwfInputException($"{Path}: no tensor named '{name}'");
        if (entry.ByteLength > int.MaxValue)
            throw new LwfInputException($"{Path}: tensor '{name}' is {entry.ByteLength} bytes; tensors over 2 GiB per tensor are not supported yet");
        var tensor = empty(entry.Shape, DTypes.ToScalarType(entry.DType));
        if (entry.ByteLength == 0) return tensor;
        _stream.Position = _dataStart + entry.Begin;
        _stream.ReadExactly(tensor.bytes);
        return tensor;
    }

    public void Dispose() => _stream.Dispose();

    /// <summary>
    /// Writes tensors (sorted by name) and metadata atomically: a temporary file in the same folder,
    /// flushed to disk, then renamed over <paramref name="path"/>. A crash leaves the old file or the new one.
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var header = new JsonObject();
        if (metadata != null && metadata.Count > 0)
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var cpu = new List<Tensor>(list.Count);
        foreach (var (name, t) in list)
        {
            var c = t.detach().cpu().contiguous();
            cpu.Add(c);
            long bytes = c.NumberOfElements * c.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = DTypes.FromScalarType(c.dtype),
                ["shape"] = new JsonArray(c.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - headerBytes.Length % 8) % 8; // the reference writer pads the header with spaces to 8 bytes
        var padded = new byte[headerBytes.Length + pad];
        headerBytes.CopyTo(padded, 0);
        for (int i = headerBytes.Length; i < padded.Length; i++) padded[i] = (byte)' ';

        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((long)padded.Length));
            stream.Write(padded);
            foreach (var c in cpu)
            {
                if (c.NumberOfElements > 0) stream.Write(c.bytes);
            }
        });
        foreach (var c in cpu) c.Dispose();
    }
}
