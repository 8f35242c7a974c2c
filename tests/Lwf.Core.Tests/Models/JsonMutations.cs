using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lwf.Core.Tests.Models;

/// <summary>A JSON document with one value swapped for a value of another JSON type: the type-confusion tests' cases.</summary>
internal static class JsonMutations
{
    /// <summary>One value of each JSON type.</summary>
    public static readonly (JsonValueKind Kind, Func<JsonNode?> Make)[] Values =
    [
        (JsonValueKind.String, () => JsonValue.Create("x")),
        (JsonValueKind.Number, () => JsonValue.Create(7.5)),
        (JsonValueKind.True, () => JsonValue.Create(true)),
        (JsonValueKind.Null, () => null),
        (JsonValueKind.Array, () => new JsonArray(1, "a")),
        (JsonValueKind.Object, () => new JsonObject { ["a"] = 1 }),
    ];

    public static IEnumerable<JsonNode?> WrongValues(JsonNode? original) =>
        Values.Where(v => v.Kind != (original?.GetValueKind() ?? JsonValueKind.Null)
                          && !(v.Kind == JsonValueKind.True && original?.GetValueKind() == JsonValueKind.False)).Select(v => v.Make());

    /// <summary>Every key path of an object, nested objects' keys too ("rope_parameters.rope_theta").</summary>
    public static IEnumerable<string[]> KeyPaths(JsonObject json, string[] prefix)
    {
        foreach (var (key, value) in json)
        {
            string[] path = [.. prefix, key];
            yield return path;
            if (value is JsonObject inner)
                foreach (var nested in KeyPaths(inner, path)) yield return nested;
        }
    }

    public static JsonObject Mutated(JsonObject original, string[] path, JsonNode? value)
    {
        var copy = (JsonObject)original.DeepClone();
        var target = copy;
        foreach (string key in path[..^1]) target = (JsonObject)target[key]!;
        target[path[^1]] = value;
        return copy;
    }

    /// <summary>A safetensors file: the 8-byte length, <paramref name="header"/> as JSON, then <paramref name="data"/>.</summary>
    public static void WriteSafeTensors(string path, JsonObject header, byte[] data)
    {
        byte[] head = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((long)head.Length));
        stream.Write(head);
        stream.Write(data);
    }

    /// <summary>
    /// Every field of every tensor in <paramref name="source"/>'s safetensors header, set to each JSON type it does not
    /// have: each case is written to <paramref name="target"/> (the same tensor bytes) before it is yielded.
    /// </summary>
    public static IEnumerable<(string Tensor, string Field, JsonNode? Value)> HeaderMutations(string source, string target)
    {
        byte[] file = File.ReadAllBytes(source);
        long headerLength = BitConverter.ToInt64(file, 0);
        var header = JsonNode.Parse(System.Text.Encoding.UTF8.GetString(file, 8, (int)headerLength))!.AsObject();
        byte[] data = file[(int)(8 + headerLength)..];
        foreach (var (tensor, entry) in header.ToList())
        {
            if (tensor == "__metadata__" || entry is not JsonObject fields) continue;
            foreach (var (field, current) in fields.ToList())
                foreach (var value in WrongValues(current))
                {
                    WriteSafeTensors(target, Mutated(header, [tensor, field], value), data);
                    yield return (tensor, field, value);
                }
        }
    }
}
