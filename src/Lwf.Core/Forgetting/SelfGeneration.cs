using Lwf.Core.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Data;
using Lwf.Core.Generation;
using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Forgetting;

/// <summary>
/// Step 1 of LWF: the base model answers the forgetting task's prompts. Greedy prompts are generated in
/// batches; sampled ones one row at a time with a seed derived from (seed, prompt index, sample index), so
/// a sample is the same whichever shard generates it. Prompts longer than the model allows keep their end.
/// </summary>
public static class SelfGeneration
{
    /// <summary>Prompts from JSONL: <c>{"prompt"}</c>, <c>{"text"}</c> or pre-tokenized <c>{"input_ids"}</c>.</summary>
    public static List<ForgettingPrompt> LoadPrompts(string path, RecordEncoder encoder, bool skipBadLines = false)
    {
        return JsonlDataset.Parse(path, obj =>
        {
            if (obj.ContainsKey("input_ids"))
            {
                var ids = JsonlDataset.ArrayOf<long>(obj, "input_ids", "integers");
                if (ids.Length == 0) throw new LwfInputException("'input_ids' is empty");
                foreach (var id in ids)
                    if (id < 0 || id >= encoder.VocabSize) throw new LwfInputException($"token id {id} is outside the vocabulary 0..{encoder.VocabSize - 1}");
                return new ForgettingPrompt(0, "", ids, null);
            }
            string key = obj.ContainsKey("prompt") ? "prompt" : obj.ContainsKey("text") ? "text"
                : throw new LwfInputException($"a prompt record needs 'prompt', 'text' or 'input_ids' (keys: {string.Join(", ", obj.Select(kv => kv.Key))})");
            string text = JsonlDataset.String(obj, key);
            return new ForgettingPrompt(0, "", encoder.FromPrompt(text), text);
        }, skipBadLines, out _).Select((p, i) => p with { Index = i, Source = $"{Path.GetFileName(path)}#{i}" }).ToList();
    }

    public static List<SelfGeneratedSample> Generate(CausalLM model, TextTokenizer? tokenizer, IReadOnlyList<ForgettingPrompt> prompts,
        SelfGenerationOptions options, Action<int>? progress = null)
    {
        options.Validate();
        int room = model.Config.MaxPositions - options.Generation.MaxNewTokens;
        if (room < 1) throw new LwfInputException($"max_new_tokens {options.Generation.MaxNewTokens} leaves no room for a prompt in {model.Config.MaxPositions} positions");
        var fitted = prompts.Select(p => p.PromptIds.Length > room ? p with { PromptIds = p.PromptIds[^room..] } : p).ToList();
        var samples = new List<SelfGeneratedSample>();
        if (options.Generation.Greedy)
        {
            foreach (var chunk in fitted.Chunk(options.BatchSize))
            {
                var outputs = TextGenerator.Generate(model, chunk.Select(p => p.PromptIds).ToList(), options.Generation);
                samples.AddRange(chunk.Zip(outputs, (p, o) => Sample(p, 0, o, tokenizer, model.Config, options.SamplesPerPrompt)));
                progress?.Invoke(samples.Count);
            }
            return WithReference(model, samples, options.BatchSize);
        }
        for (int i = 0; i < fitted.Count; i++)
        {
            for (int k = 0; k < options.SamplesPerPrompt; k++)
            {
                var seeded = options.Generation with { Seed = Training.Seeds.Combine(options.Generation.Seed, fitted[i].Index, k) };
                var output = TextGenerator.Generate(model, [fitted[i].PromptIds], seeded)[0];
                samples.Add(Sample(fitted[i], k, output, tokenizer, model.Config, options.SamplesPerPrompt));
            }
            progress?.Invoke(samples.Count);
        }
        return WithReference(model, samples, 1);
    }

    /// <summary>
    /// Each sample with the generating (base) model's log-likelihood of its response, NPO's reference. Computed in
    /// batches of <paramref name="batchSize"/> rows, as generation was, so a sample's value does not depend on its shard.
    /// </summary>
    public static List<SelfGeneratedSample> WithReference(CausalLM model, IReadOnlyList<SelfGeneratedSample> samples, int batchSize)
    {
        var result = new List<SelfGeneratedSample>(samples.Count);
        model.eval();
        using var _ = TorchSharp.torch.no_grad();
        foreach (var chunk in samples.Chunk(Math.Max(1, batchSize)))
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            using var batch = TokenBatch.Create(chunk.Select(s => s.ToRecord()).ToList(), model.Config.PaddingId, model.Device);
            var (rowNll, _) = model.TokenNll(batch.InputIds, batch.AttentionMask, batch.LossMask);
            var nll = rowNll.to(TorchSharp.torch.ScalarType.Float64).cpu().data<double>().ToArray();
            result.AddRange(chunk.Select((s, i) => s with { ReferenceLogLikelihood = -nll[i] }));
        }
        return result;
    }

    private static SelfGeneratedSample Sample(ForgettingPrompt prompt, int k, long[] response, TextTokenizer? tokenizer, ModelConfig config, int perPrompt)
    {
        var textIds = response.Where(id => !config.EosTokenIds.Contains((int)id));
        return new SelfGeneratedSample(prompt.Index * perPrompt + k, prompt.Source, prompt.PromptIds, response,
            prompt.PromptText ?? tokenizer?.Decode(prompt.PromptIds), tokenizer?.Decode(textIds));
    }

    /// <summary>
    /// JSONL: {prompt, response, source} (text where there is a tokenizer) and always the exact ids,
    /// {input_ids, loss_mask}, so that scoring uses the tokens the model produced, not a re-tokenization.
    /// </summary>
    public static void Write(string path, IEnumerable<SelfGeneratedSample> samples) =>
        JsonlDataset.Write(path, samples.Select(s =>
        {
            var record = s.ToRecord();
            var json = new JsonObject();
            if (s.Prompt is not null) json["prompt"] = s.Prompt;
            if (s.Response is not null) json["response"] = s.Response;
            json["source"] = s.Source;
            json["input_ids"] = new JsonArray(record.InputIds.Select(i => (JsonNode)i).ToArray());
            json["loss_mask"] = new JsonArray(record.LossMask.Select(m => (JsonNode)(m ? 1 : 0)).ToArray());
            return json;
        }));

    /// <summary>The samples exactly as they are (one JSON object per line), for a shard's or a checkpoint's own use.</summary>
    public static void SaveSamples(string path, IEnumerable<SelfGeneratedSample> samples) =>
        AtomicFile.WriteText(path, string.Concat(samples.Select(s => JsonSerializer.Serialize(s) + "\n")));

    public static List<SelfGeneratedSample> LoadSamples(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<SelfGeneratedSample>(l)!).ToList();
}
