using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lwf.Core.Data;

/// <summary>
/// JSON Lines datasets. A record is one of
/// <c>{"text"}</c>, <c>{"prompt","response"}</c> (loss on the response), <c>{"input_ids"[, "loss_mask"]}</c>
/// (pre-tokenized) or <c>{"prompt","choices","answer"}</c> (multiple choice; trained on as prompt → right choice).
/// A bad line is an error naming the file and line, or, with <c>skipBadLines</c>, skipped and counted.
/// </summary>
public sealed class JsonlDataset
{
    public required string Path { get; init; }
    public required IReadOnlyList<TokenizedRecord> Records { get; init; }
    public required IReadOnlyList<string> SkippedLines { get; init; }

    /// <summary>Text stays readable in the files this project writes (no \uXXXX for every accent or quote).</summary>
    private static readonly System.Text.Json.JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes one JSON object per line, atomically: the one JSONL writer of the project.</summary>
    public static void Write(string path, IEnumerable<JsonObject> records) =>
        IO.AtomicFile.WriteText(path, string.Concat(records.Select(r => r.ToJsonString(Readable) + "\n")));

    public static JsonlDataset Load(string path, RecordEncoder encoder, bool skipBadLines = false)
    {
        var records = Parse(path, obj => Encode(obj, encoder), skipBadLines, out var skipped);
        return new JsonlDataset { Path = path, Records = records, SkippedLines = skipped };
    }

    /// <summary>Multiple-choice records only; any other line is an error naming file and line.</summary>
    public static IReadOnlyList<MultipleChoiceRecord> LoadMultipleChoice(string path) =>
        Parse(path, ParseMultipleChoice, skipBadLines: false, out _);

    /// <summary>
    /// Every non-blank line through <paramref name="parse"/>. A line that is not a JSON object, or that
    /// <paramref name="parse"/> refuses with an <see cref="LwfInputException"/>, is an error "path:line: why",
    /// or is skipped and listed when <paramref name="skipBadLines"/>. At least one record must remain.
    /// </summary>
    public static List<T> Parse<T>(string path, Func<JsonObject, T> parse, bool skipBadLines, out List<string> skipped)
    {
        var list = new List<T>();
        skipped = [];
        foreach (var (line, result) in ReadLines(path, parse))
        {
            if (result.Error is null) { list.Add(result.Value!); continue; }
            string message = $"{path}:{line}: {result.Error}";
            if (!skipBadLines) throw new LwfInputException(message + " (pass --skip-bad-lines to skip such lines)");
            skipped.Add(message);
        }
        if (list.Count == 0) throw new LwfInputException($"{path}: no usable records{(skipped.Count > 0 ? $" ({skipped.Count} bad line(s) skipped; first: {skipped[0]})" : "")}");
        return list;
    }

    private readonly record struct LineResult<T>(T? Value, string? Error);

    private static IEnumerable<(int Line, LineResult<T> Result)> ReadLines<T>(string path, Func<JsonObject, T> parse)
    {
        InputFile.Require(path);
        int number = 0;
        foreach (var text in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            LineResult<T> result;
            try
            {
                var node = JsonNode.Parse(text);
                result = node is JsonObject obj
                    ? new LineResult<T>(parse(obj), null)
                    : new LineResult<T>(default, "expected a JSON object");
            }
            catch (JsonException e)
            {
                result = new LineResult<T>(default, $"not valid JSON: {e.Message}");
            }
            catch (LwfInputException e)
            {
                result = new LineResult<T>(default, e.Message);
            }
            yield return (number, result);
        }
    }

    /// <summary>One record object of any known shape as token ids (what <see cref="Load"/> does per line).</summary>
    public static TokenizedRecord Encode(JsonObject obj, RecordEncoder encoder)
    {
        if (obj.ContainsKey("input_ids"))
        {
            var ids = ArrayOf<long>(obj, "input_ids", "integers");
            var mask = obj.ContainsKey("loss_mask") ? ArrayOf<int>(obj, "loss_mask", "0 or 1").Select(m => m != 0).ToArray() : null;
            return encoder.FromIds(ids, mask);
        }
        if (obj.ContainsKey("choices"))
        {
            var mc = ParseMultipleChoice(obj);
            return encoder.FromPromptResponse(mc.Prompt, mc.Choices[mc.Answer]);
        }
        if (obj.ContainsKey("prompt") || obj.ContainsKey("response"))
            return encoder.FromPromptResponse(String(obj, "prompt"), String(obj, "response"));
        if (obj.ContainsKey("text")) return encoder.FromText(String(obj, "text"));
        throw new LwfInputException(
            $"record has none of the known shapes {{text}}, {{prompt, response}}, {{input_ids[, loss_mask]}}, {{prompt, choices, answer}} (keys: {string.Join(", ", obj.Select(kv => kv.Key))})");
    }

    public static MultipleChoiceRecord ParseMultipleChoice(JsonObject obj)
    {
        string prompt = String(obj, "prompt");
        var choices = ArrayOf<string>(obj, "choices", "strings");
        if (choices.Length < 2) throw new LwfInputException("'choices' needs at least 2 entries");
        var answer = obj["answer"] ?? throw new LwfInputException("missing key 'answer'");
        int index;
        if (answer.GetValueKind() == JsonValueKind.Number)
        {
            if (!answer.AsValue().TryGetValue(out index))
                throw new LwfInputException($"'answer' {answer.ToJsonString()} is not a whole number (a choice index)");
            if (index < 0 || index >= choices.Length) throw new LwfInputException($"'answer' {index} is not an index into the {choices.Length} choices");
        }
        else if (answer.GetValueKind() == JsonValueKind.String)
        {
            index = System.Array.IndexOf(choices, answer.GetValue<string>());
            if (index < 0) throw new LwfInputException($"'answer' \"{answer.GetValue<string>()}\" is not one of the choices");
        }
        else throw new LwfInputException("'answer' must be a choice index or the text of a choice");
        return new MultipleChoiceRecord(prompt, choices, index);
    }

    public static string String(JsonObject obj, string key)
    {
        var node = obj[key] ?? throw new LwfInputException($"missing key '{key}'");
        if (node.GetValueKind() != JsonValueKind.String) throw new LwfInputException($"'{key}' must be a string");
        return node.GetValue<string>();
    }

    public static T[] ArrayOf<T>(JsonObject obj, string key, string what)
    {
        if (obj[key] is not JsonArray array) throw new LwfInputException($"'{key}' must be an array of {what}");
        try
        {
            return array.Select(n => n!.GetValue<T>()).ToArray();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new LwfInputException($"'{key}' must be an array of {what}");
        }
    }
}
