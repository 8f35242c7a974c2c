using Lwf.Core.IO;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Corpora;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Models;
using Lwf.Core.Tasks;
using Lwf.Core.Text;
using Lwf.Core.Training;
using TorchSharp;

namespace Lwf.Core.Pretraining;

/// <summary>
/// `lwf pretrain`: a small GPT-2-shaped model (GPT-2's tokenizer) trained from scratch on general English and,
/// many times over, on the forgetting tasks' knowledge (<see cref="PretrainCorpus"/>), so that the base model
/// really knows what a job will make it forget; the report measures that knowledge with the forgetting tasks'
/// own evaluation. The result is a Hugging Face model folder with pretrain-report.json; a folder whose report
/// has the same fingerprint (options and fetched sources) is reused as it is.
/// </summary>
public static class Pretrainer
{
    public const string ReportFile = "pretrain-report.json";
    private const long Gpt2EndOfText = 50256;
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static PretrainReport Run(string dataDirectory, string outDirectory, PretrainOptions options, IProgress<(int Step, int Steps, double Loss)>? progress = null,
        bool force = false)
    {
        options.Validate();
        string fingerprint = Fingerprint(dataDirectory, options);
        string reportPath = Path.Combine(outDirectory, ReportFile);
        if (!force && File.Exists(reportPath) && PretrainedModel.HasWeights(outDirectory)
            && JsonSerializer.Deserialize<PretrainReport>(File.ReadAllText(reportPath)) is { } cached && cached.Fingerprint == fingerprint)
            return cached with { Cached = true };

        var clock = Stopwatch.StartNew();
        TorchSharp.torch.random.manual_seed(options.Seed);
        var config = ModelConfig.Parse(new JsonObject
        {
            ["model_type"] = "gpt2", ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["activation_function"] = "gelu_new",
            ["vocab_size"] = TextTokenizer.Gpt2VocabSize, ["n_positions"] = options.Context, ["n_embd"] = options.Embedding,
            ["n_layer"] = options.Layers, ["n_head"] = options.Heads, ["bos_token_id"] = 50256, ["eos_token_id"] = 50256,
            ["layer_norm_epsilon"] = 1e-5, ["initializer_range"] = 0.02, ["tie_word_embeddings"] = true,
        }, "pretrain options");
        using var model = CausalLM.Create(config);
        model.InitializeWeights(options.Seed);
        model.to(Devices.Resolve(options.Device));
        model.eval();
        var tokenizer = TextTokenizer.Load(outDirectory, config) ?? throw new InvalidOperationException("no GPT-2 tokenizer");
        var encoder = new RecordEncoder(tokenizer, config, options.Context);

        var train = new List<TokenizedRecord>();
        var heldOut = new Dictionary<string, List<TokenizedRecord>>();
        var windowsPerDomain = new Dictionary<string, int>();
        foreach (var (domain, documents) in PretrainCorpus.General(dataDirectory))
        {
            var (trainDocs, heldOutDocs) = TaskSplits.Split(documents, d => d, documents.Count, options.HeldOutDocuments, options.Seed);
            var windows = Windows(tokenizer, trainDocs, options.Context).ToList();
            new Random(Seeds.ForRandom(options.Seed, domain.Length, windows.Count)).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(windows));
            windowsPerDomain[domain] = Math.Min(windows.Count, options.MaxWindowsPerDomain);
            train.AddRange(windows.Take(options.MaxWindowsPerDomain));
            heldOut[domain] = heldOutDocs.Select(encoder.FromText).Where(r => r.LossTokens > 0).ToList();
        }
        var knowledge = new Dictionary<string, (int Windows, List<MultipleChoiceRecord> Eval)>();
        foreach (var (task, documents) in PretrainCorpus.Knowledge(dataDirectory))
        {
            // Each repeat cuts the documents in another order, so a fact sits in other windows with other neighbours.
            int windows = 0;
            for (int repeat = 0; repeat < options.KnowledgeRepeats; repeat++)
            {
                var order = documents.ToArray();
                new Random(Seeds.ForRandom(options.Seed, task.Length, repeat)).Shuffle(order);
                var cut = Windows(tokenizer, order, options.Context).ToList();
                windows += cut.Count;
                train.AddRange(cut);
            }
            windowsPerDomain[task] = windows;
            var eval = TaskBuilders.Get(TaskBuilders.Forgetting, task, "forgetting")(dataDirectory, TaskSizes.Experiment, options.Seed).Eval;
            knowledge[task] = (windows, eval.Select(JsonlDataset.ParseMultipleChoice).ToList());
        }
        new Random(Seeds.ForRandom(options.Seed, 53)).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(train));
        var before = heldOut.ToDictionary(kv => kv.Key, kv => Evaluator.Perplexity(model, kv.Value, 16));
        var knownBefore = knowledge.ToDictionary(kv => kv.Key, kv => Evaluator.MultipleChoiceAccuracy(model, encoder, kv.Value.Eval));

        var tuneOptions = new FineTuneOptions
        {
            Steps = options.Steps, LearningRate = options.LearningRate, WarmupSteps = Math.Max(1, options.Steps / 20),
            MicroBatchSize = options.BatchSize, WeightDecay = 0.01, Seed = options.Seed, Scheduler = LearningRateScheduler.Cosine,
        };
        double loss = double.NaN;
        using (var tuner = new FineTuner(model, tuneOptions, config.PaddingId))
            foreach (var step in tuner.Train(train))
            {
                loss = step.Loss;
                progress?.Report((step.Step, options.Steps, step.Loss));
            }

        var report = new PretrainReport(fingerprint, options, model.ParameterCount, options.Steps, loss, clock.Elapsed.TotalSeconds,
            heldOut.Keys.Select(d => new DomainPerplexity(d, windowsPerDomain[d], heldOut[d].Count, before[d],
                Evaluator.Perplexity(model, heldOut[d], 16))).ToList(),
            knowledge.Select(kv => new KnowledgeAccuracy(kv.Key, kv.Value.Windows, kv.Value.Eval.Count,
                kv.Value.Eval.Average(q => 1.0 / q.Choices.Length), knownBefore[kv.Key],
                Evaluator.MultipleChoiceAccuracy(model, encoder, kv.Value.Eval))).ToList());
        PretrainedModel.Save(model, outDirectory);
        AtomicFile.WriteText(reportPath, JsonSerializer.Serialize(report, Json));
        return report;
    }

    /// <summary>Each document's tokens and an end-of-text, end to end, cut into windows of the context length.</summary>
    private static IEnumerable<TokenizedRecord> Windows(TextTokenizer tokenizer, IEnumerable<string> documents, int context)
    {
        var buffer = new List<long>(context);
        foreach (var document in documents)
            foreach (long id in tokenizer.Encode(document).Select(i => (long)i).Append(Gpt2EndOfText))
            {
                buffer.Add(id);
                if (buffer.Count < context) continue;
                yield return new TokenizedRecord(buffer.ToArray(), buffer.Select((_, t) => t > 0).ToArray());
                buffer.Clear();
            }
    }

    /// <summary>The options and the fetched sources' archives: a report with another fingerprint is not reused.</summary>
    public static string Fingerprint(string dataDirectory, PretrainOptions options)
    {
        var sources = PretrainCorpus.Sources.Select(s => CorpusFetcher.Read(CorpusFetcher.Require(dataDirectory, s))!.ArchiveSha256);
        string text = JsonSerializer.Serialize(options) + "|" + string.Join(",", sources) + "|" + PretrainCorpus.Version;
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];
    }
}
