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

/// <summary>The base model's shape and its training run; the defaults fit in about 12 minutes on 2 CPU cores.</summary>
public sealed record PretrainOptions
{
    public int Layers { get; init; } = 4;
    public int Embedding { get; init; } = 192;
    public int Heads { get; init; } = 4;
    /// <summary>Tokens per training window (and the model's positions).</summary>
    public int Context { get; init; } = 128;
    public int Steps { get; init; } = 500;
    public int BatchSize { get; init; } = 8;
    public double LearningRate { get; init; } = 2e-3;
    public long Seed { get; init; } = 42;
    /// <summary>Documents per domain kept out of training, for the perplexity report.</summary>
    public int HeldOutDocuments { get; init; } = 30;
    /// <summary>At most this many training windows from one domain, so that no corpus drowns the others.</summary>
    public int MaxWindowsPerDomain { get; init; } = 1500;
    /// <summary>A domain with fewer training windows is repeated up to this many, so that a small corpus is still learnt.</summary>
    public int MinWindowsPerDomain { get; init; } = 300;
    /// <summary>cpu, cuda or auto. Not part of the cache fingerprint: the same options train the same model on any device.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Device { get; init; } = "cpu";

    public void Validate()
    {
        if (Layers < 1 || Embedding < 8 || Heads < 1 || Embedding % Heads != 0)
            throw new LwfInputException($"the model needs layers ≥ 1 and an embedding ≥ 8 divisible by the heads (got {Layers}, {Embedding}, {Heads})");
        if (Context < 8) throw new LwfInputException($"--context must be at least 8, got {Context}");
        if (HeldOutDocuments < 1 || MaxWindowsPerDomain < 1) throw new LwfInputException("held-out documents and windows per domain must be at least 1");
        if (MinWindowsPerDomain < 0 || MinWindowsPerDomain > MaxWindowsPerDomain)
            throw new LwfInputException($"--min-windows must be between 0 and --max-windows ({MaxWindowsPerDomain}), got {MinWindowsPerDomain}");
    }
}

/// <summary>Held-out perplexity of one domain before and after pretraining.</summary>
public sealed record DomainPerplexity(string Domain, int TrainWindows, int HeldOutRecords, double Before, double After);

/// <summary>pretrain-report.json: what was trained on what, and how well it models each domain.</summary>
public sealed record PretrainReport(string Fingerprint, PretrainOptions Options, long Parameters, int Steps, double FinalLoss,
    double Seconds, IReadOnlyList<DomainPerplexity> Domains, bool Cached = false);

/// <summary>
/// `lwf pretrain`: a small GPT-2-shaped model (GPT-2's tokenizer) trained from scratch on text of every
/// domain the tasks use (Brown, reviews, country facts, State of the Union addresses, fortunes), so that
/// the base model really knows the forgetting domains before a job fine-tunes it. The result is a Hugging
/// Face model folder with pretrain-report.json; a folder whose report has the same fingerprint (options and
/// fetched sources) is reused as it is.
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

        var domains = PretrainCorpus.Domains(dataDirectory);
        var train = new List<TokenizedRecord>();
        var heldOut = new Dictionary<string, List<TokenizedRecord>>();
        var windowsPerDomain = new Dictionary<string, int>();
        foreach (var (domain, documents) in domains)
        {
            var (trainDocs, heldOutDocs) = TaskSplits.Split(documents, d => d, documents.Count, options.HeldOutDocuments, options.Seed);
            var windows = Windows(tokenizer, trainDocs, options.Context).ToList();
            new Random(Seeds.ForRandom(options.Seed, domain.Length, windows.Count)).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(windows));
            windowsPerDomain[domain] = Math.Min(windows.Count, options.MaxWindowsPerDomain);
            var kept = windows.Take(options.MaxWindowsPerDomain).ToList();
            // A thin domain is seen several times (its windows repeated in order) rather than barely at all.
            for (int i = 0; kept.Count > 0 && i < options.MinWindowsPerDomain - windowsPerDomain[domain]; i++) train.Add(kept[i % kept.Count]);
            train.AddRange(kept);
            heldOut[domain] = heldOutDocs.Select(encoder.FromText).Where(r => r.LossTokens > 0).ToList();
        }
        var before = heldOut.ToDictionary(kv => kv.Key, kv => Evaluator.Perplexity(model, kv.Value, 16));

        var tuneOptions = new FineTuneOptions
        {
            Steps = options.Steps, LearningRate = options.LearningRate, WarmupSteps = Math.Max(1, options.Steps / 20),
            MicroBatchSize = options.BatchSize, WeightDecay = 0.01, Seed = options.Seed,
        };
        double loss = double.NaN;
        using (var tuner = new FineTuner(model, tuneOptions, config.PaddingId))
            foreach (var step in tuner.Train(train))
            {
                loss = step.Loss;
                progress?.Report((step.Step, options.Steps, step.Loss));
            }

        var report = new PretrainReport(fingerprint, options, model.ParameterCount, options.Steps, loss, clock.Elapsed.TotalSeconds,
            domains.Keys.Select(d => new DomainPerplexity(d, windowsPerDomain[d], heldOut[d].Count, before[d],
                Evaluator.Perplexity(model, heldOut[d], 16))).ToList());
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

/// <summary>The pretraining text, by domain: every corpus the tasks draw on, as documents.</summary>
public static class PretrainCorpus
{
    /// <summary>Bumped when the text below changes, so cached base models are rebuilt.</summary>
    public const int Version = 2;

    public static readonly string[] Sources = ["brown", "sentiment", "countries", "sotu", "fortunes"];

    public static Dictionary<string, List<string>> Domains(string dataDirectory) => new()
    {
        // The held-out Brown documents stay out: they are every job's held-out perplexity text.
        ["brown"] = BrownCorpus.Documents(dataDirectory).Where(d => !d.HeldOut).Select(d => string.Join(' ', d.Sentences)).ToList(),
        ["reviews"] = TaskBuilders.Reviews(dataDirectory).Select(r => r.Text).ToList(),
        ["countries"] = TaskBuilders.CountryFacts(dataDirectory),
        ["sotu"] = Paragraphs(TaskBuilders.StateOfTheUnionAddresses(dataDirectory)),
        ["fortunes"] = TaskBuilders.FortuneTexts(dataDirectory),
    };

    /// <summary>Long addresses cut into paragraphs of about 120 words (more documents to hold out and shuffle).</summary>
    private static List<string> Paragraphs(IEnumerable<string> texts) =>
        texts.SelectMany(t => t.Split(' ', StringSplitOptions.RemoveEmptyEntries).Chunk(120).Select(words => string.Join(' ', words))).ToList();
}
