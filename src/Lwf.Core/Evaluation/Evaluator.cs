using Lwf.Core.Data;
using Lwf.Core.Generation;
using Lwf.Core.Models;
using Lwf.Core.Text;
using static TorchSharp.torch;

namespace Lwf.Core.Evaluation;

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
