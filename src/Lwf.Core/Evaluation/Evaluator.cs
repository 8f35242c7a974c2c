using Lwf.Core.Data;
using Lwf.Core.Generation;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Lwf.Core.Training;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Lwf.Core.Evaluation;

/// <summary>A metric of one evaluation set: accuracy, exact_match or perplexity.</summary>
public sealed record EvalResult(string Set, string Metric, double Value, int Count);

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

public static class Evaluator
{
    /// <summary>
    /// Share of questions whose right choice has the highest summed log-probability. The choices of several questions
    /// go through one forward pass, up to <paramref name="batchSize"/> rows (always whole questions): a question at a
    /// time left most of a step's fixed cost unshared.
    /// </summary>
    public static double MultipleChoiceAccuracy(CausalLM model, RecordEncoder encoder, IReadOnlyList<MultipleChoiceRecord> questions, int batchSize = 16)
    {
        int right = 0;
        for (int start = 0; start < questions.Count;)
        {
            var group = new List<MultipleChoiceRecord> { questions[start++] };
            int rows = group[0].Choices.Length;
            while (start < questions.Count && rows + questions[start].Choices.Length <= batchSize)
            {
                rows += questions[start].Choices.Length;
                group.Add(questions[start++]);
            }
            var records = group.SelectMany(q => q.Choices.Select(c => encoder.FromPromptResponse(q.Prompt, c, appendEos: false))).ToList();
            var scores = SummedLogProbabilities(model, records);
            int offset = 0;
            foreach (var q in group)
            {
                int best = Enumerable.Range(0, q.Choices.Length).MaxBy(i => scores[offset + i]);
                if (best == q.Answer) right++;
                offset += q.Choices.Length;
            }
        }
        return (double)right / questions.Count;
    }

    /// <summary>
    /// Share of prompts whose greedy answer equals the reference: compared as text (trimmed, case and
    /// inner whitespace folded) when there is a tokenizer, else as the first answer-length token ids.
    /// </summary>
    public static double ExactMatch(CausalLM model, TextTokenizer? tokenizer, IReadOnlyList<(long[] Prompt, long[] Answer)> items,
        int maxNewTokens, int batchSize)
    {
        int right = 0;
        var stop = model.Config.EosTokenIds.Select(i => (long)i).ToArray();
        foreach (var chunk in items.Chunk(batchSize))
        {
            int longest = Math.Max(maxNewTokens, chunk.Max(c => c.Answer.Length));
            var outputs = TextGenerator.Generate(model, chunk.Select(c => c.Prompt).ToList(),
                new GenerationOptions { MaxNewTokens = longest, StopTokenIds = stop });
            foreach (var (item, output) in chunk.Zip(outputs))
            {
                var answer = output.Where(id => !stop.Contains(id)).ToArray();
                bool match = tokenizer is null
                    ? answer.Take(item.Answer.Length).SequenceEqual(item.Answer)
                    : Normalize(tokenizer.Decode(answer)) == Normalize(tokenizer.Decode(item.Answer));
                if (match) right++;
            }
        }
        return (double)right / items.Count;
    }

    /// <summary>exp(Σ token NLL / Σ loss tokens) over the records.</summary>
    public static double Perplexity(CausalLM model, IReadOnlyList<TokenizedRecord> records, int batchSize)
    {
        double nll = 0, tokens = 0;
        using var _ = no_grad();
        foreach (var chunk in records.Chunk(batchSize))
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(chunk, 0, model.Device);
            var (sum, count) = model.TokenNll(batch.InputIds, batch.AttentionMask, batch.LossMask);
            nll += sum.sum().item<float>();
            tokens += count.sum().item<float>();
        }
        return Math.Exp(nll / Math.Max(1, tokens));
    }

    private static double[] SummedLogProbabilities(CausalLM model, IReadOnlyList<TokenizedRecord> records)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var batch = TokenBatch.Create(records, 0, model.Device);
        var (sum, _) = model.TokenNll(batch.InputIds, batch.AttentionMask, batch.LossMask);
        return (-sum).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    private static string Normalize(string text) => string.Join(' ', text.Trim().ToLowerInvariant().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
}
