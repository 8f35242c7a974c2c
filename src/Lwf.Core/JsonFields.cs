using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lwf.Core;

/// <summary>
/// Typed reads of one JSON object from a file the user handed us (a model's config.json, a safetensors header, a
/// generation config). A key that is missing or JSON null is "not set"; a value of another JSON type than the key
/// needs is one <see cref="LwfInputException"/> naming the file, the key and the type it must have, never an
/// InvalidOperationException from deep inside System.Text.Json. Every reader of such a file goes through here.
/// </summary>
public sealed class JsonFields(JsonObject json, string source, string keyPrefix = "")
{
    /// <summary>Parses <paramref name="text"/>, which must be one JSON object.</summary>
    public static JsonFields Parse(string text, string source)
    {
        try
        {
            return new JsonFields(JsonNode.Parse(text) as JsonObject ?? throw new LwfInputException($"{source}: expected a JSON object"), source);
        }
        catch (JsonException e)
        {
            throw new LwfInputException($"{source}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
        }
    }

    /// <summary>Reads <paramref name="path"/>, a regular file (<see cref="InputFile"/>) holding one JSON object.</summary>
    public static JsonFields Load(string path)
    {
        InputFile.Require(path);
        return Parse(File.ReadAllText(path), path);
    }

    public JsonObject Json => json;

    public string Source => source;

    public string? String(string key) => Read(key, "a string", n => Kind(n) == JsonValueKind.String ? n.GetValue<string>() : null);

    public bool? Bool(string key) => Value(key, "true or false", n => Kind(n) switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => (bool?)null,
    });

    public int? Int(string key) => Value(key, "an integer", AsInt);

    public long? Long(string key) => Value(key, "an integer", AsLong);

    public double? Double(string key) => Value(key, "a number", AsDouble);

    /// <summary>A count or a dimension, in 1..<paramref name="max"/>: a zero or negative one would fail deep inside a model.</summary>
    public int? Count(string key, int max = 10_000_000) => Int(key) is not { } v ? null
        : v >= 1 && v <= max ? v : throw new LwfInputException($"{source}: key '{keyPrefix}{key}' must be an integer in 1..{max}, got {v}");

    /// <summary>An integer or a list of integers (transformers' eos_token_id).</summary>
    public long[]? Longs(string key) => Read(key, "an integer or a list of integers", n => n switch
    {
        JsonArray list => list.Select(x => x is null ? null : AsLong(x)).ToArray() is var all && all.All(x => x is not null) ? all.Select(x => x!.Value).ToArray() : null,
        _ => AsLong(n) is { } one ? [one] : null,
    });

    /// <summary>A list of integers (a safetensors shape, its data_offsets).</summary>
    public long[]? LongList(string key) => Read(key, "a list of integers", n => n is JsonArray list
        && list.Select(x => x is null ? null : AsLong(x)).ToArray() is var all && all.All(x => x is not null) ? all.Select(x => x!.Value).ToArray() : null);

    /// <summary>A list of strings (transformers' architectures).</summary>
    public string[]? Strings(string key) => Read(key, "a list of strings", n => n is JsonArray list
        && list.All(x => x is not null && Kind(x) == JsonValueKind.String) ? list.Select(x => x!.GetValue<string>()).ToArray() : null);

    /// <summary>A nested object, read the same way (its keys named as "outer.inner").</summary>
    public JsonFields? Object(string key) => Read(key, "an object", n => n is JsonObject o ? new JsonFields(o, source, $"{keyPrefix}{key}.") : null);

    public LwfInputException Missing(string key) => new($"{source}: missing key '{keyPrefix}{key}'");

    private T? Value<T>(string key, string what, Func<JsonNode, T?> read) where T : struct =>
        json[key] is not { } node ? null : read(node) ?? throw WrongType(key, what, node);

    private T? Read<T>(string key, string what, Func<JsonNode, T?> read) where T : class =>
        json[key] is not { } node ? null : read(node) ?? throw WrongType(key, what, node);

    private LwfInputException WrongType(string key, string what, JsonNode node)
    {
        string value = node.ToJsonString();
        return new($"{source}: key '{keyPrefix}{key}' must be {what}, got {(value.Length > 80 ? value[..80] + "…" : value)}");
    }

    private static JsonValueKind Kind(JsonNode node) => node.GetValueKind();

    // A number's JSON text, whatever .NET type a node built in code holds it in (an int, a double, a JsonElement).
    private static string? NumberText(JsonNode node) => Kind(node) == JsonValueKind.Number ? node.ToJsonString() : null;

    private static double? AsDouble(JsonNode node) =>
        NumberText(node) is { } text && double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) ? d : null;

    private static long? AsLong(JsonNode node) =>
        NumberText(node) is { } text && long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
        : AsDouble(node) is { } d && d == Math.Floor(d) && Math.Abs(d) < 9e15 ? (long)d : null;

    private static int? AsInt(JsonNode node) => AsLong(node) is { } v && v is >= int.MinValue and <= int.MaxValue ? (int)v : null;
}
