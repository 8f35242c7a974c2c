using Lwf.Core.Data;
using Lwf.Core.Models;
using System.Text.Json.Nodes;

namespace Lwf.Core.Evaluation;

/// <summary>
/// An evaluation set, its kind read from the records: <c>{prompt, choices, answer}</c> → multiple-choice
/// accuracy by log-likelihood; <c>{prompt, response}</c> → exact match of the greedy answer;
/// <c>{text}</c> or <c>{input_ids}</c> → perplexity.
/// </summary>
public sealed class EvalSet
{
    private EvalSet(string name, string path) { Name = name; Path = path; }

    public string Name { get; }
    public string Path { get; }
    public string Metric { get; private init; } = "";
    private IReadOnlyList<MultipleChoiceRecord> _choices = [];
    private IReadOnlyList<(long[] Prompt, long[] Answer)> _answers = [];
    private IReadOnlyList<TokenizedRecord> _texts = [];

    public int Count => Math.Max(_choices.Count, Math.Max(_answers.Count, _texts.Count));

    public static EvalSet Load(string name, string path, RecordEncoder encoder, bool skipBadLines = false)
    {
        if (!File.Exists(path)) throw new LwfInputException($"{path}: file not found");
        var first = File.ReadLines(path).FirstOrDefault(l => !string.IsNullOrWhiteSpace(l));
        JsonObject? head = null;
        try { head = first is null ? null : JsonNode.Parse(first) as JsonObject; } catch (System.Text.Json.JsonException) { }
        if (head is null) throw new LwfInputException($"{path}:1: expected a JSON object (an evaluation record)");
        if (head.ContainsKey("choices"))
            return new EvalSet(name, path) { Metric = "accuracy", _choices = JsonlDataset.Parse(path, JsonlDataset.ParseMultipleChoice, skipBadLines, out _) };
        if (head.ContainsKey("response"))
            return new EvalSet(name, path)
            {
                Metric = "exact_match",
                _answers = JsonlDataset.Parse(path, o => (encoder.FromPrompt(JsonlDataset.String(o, "prompt")),
                    encoder.FromResponse(JsonlDataset.String(o, "response"), appendEos: false)), skipBadLines, out _),
            };
        return new EvalSet(name, path) { Metric = "perplexity", _texts = JsonlDataset.Load(path, encoder, skipBadLines).Records };
    }

    public EvalResult Evaluate(CausalLM model, RecordEncoder encoder, int maxNewTokens = 16, int batchSize = 16)
    {
        double value = Metric switch
        {
            "accuracy" => Evaluator.MultipleChoiceAccuracy(model, encoder, _choices, batchSize),
            "exact_match" => Evaluator.ExactMatch(model, encoder.Tokenizer, _answers, maxNewTokens, batchSize),
            _ => Evaluator.Perplexity(model, _texts, batchSize),
        };
        return new EvalResult(Name, Metric, value, Count);
    }
}
