using Lwf.Core.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Checkpoints;

/// <summary>
/// A model folder in the Hugging Face layout: <c>config.json</c>, <c>model.safetensors</c> or sharded
/// <c>model-0000i-of-0000n.safetensors</c> with <c>model.safetensors.index.json</c>, plus the tokenizer
/// and <c>generation_config.json</c> when present. A folder with only a config gives freshly initialised weights.
/// </summary>
public static class PretrainedModel
{
    public const string WeightsFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";
    public const long DefaultMaxShardBytes = 5L * 1024 * 1024 * 1024;

    /// <summary>Far above what a silo trains (a 70 B model does not fit one); a config beyond it is a mistake.</summary>
    public const double MaxParameters = 200e9;

    /// <summary>Files copied along when a model is saved from a folder that has them.</summary>
    private static readonly string[] CompanionFiles =
        ["generation_config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "tokenizer.model", "special_tokens_map.json"];

    private static readonly object InitializationLock = new();

    /// <param name="autocast">Mixed precision: the matrix products run in this dtype over float32 master weights
    /// (whatever dtype the checkpoint stores); null computes in the weights' dtype.</param>
    public static CausalLM Load(string dir, Device? device = null, ScalarType? dtype = null, long initSeed = 0, ScalarType? autocast = null)
    {
        var config = ModelConfig.Load(dir);
        // Sizes each in range can still multiply into terabytes: refused before libtorch is asked for them.
        double parameters = (double)config.VocabSize * config.HiddenSize * (config.TieWordEmbeddings ? 1 : 2)
            + (double)config.NumLayers * (4.0 * config.HiddenSize * config.HiddenSize + 3.0 * config.HiddenSize * config.IntermediateSize);
        if (parameters > MaxParameters)
            throw new LwfInputException($"{Path.Combine(dir, "config.json")}: the config describes about {parameters:G3} parameters; the limit is {MaxParameters:G3}");
        var model = CausalLM.Create(config);
        model.to(dtype ?? (autocast is null ? config.DType : ScalarType.Float32));
        if (autocast is { } compute) model.Autocast.Enable(compute, model.WeightDType);
        var files = WeightFiles(dir);
        if (files.Count == 0) RequireWeights(dir, config);
        // Initialisation draws from the process's global generator: replicas made at once in one process (an
        // embedded cluster) must not interleave their draws, or their "same" random weights differ.
        if (files.Count == 0) lock (InitializationLock) model.InitializeWeights(initSeed);
        else LoadWeights(model, files);
        if (device is not null) model.to(device);
        model.eval();
        return model;
    }

    /// <summary>
    /// The files of a model folder that <see cref="Load"/> and the tokenizer read, and a save copies along: config.json,
    /// the weights (one file, or the index and the shards it names) and the tokenizer and generation files present.
    /// Nothing else (a hub folder's pytorch_model.bin, tf_model.h5, flax_model.msgpack): what `lwf submit` uploads.
    /// </summary>
    public static IReadOnlyList<string> FilesRead(string dir)
    {
        var files = new List<string>();
        if (File.Exists(Path.Combine(dir, ModelConfig.FileName))) files.Add(Path.Combine(dir, ModelConfig.FileName));
        if (!File.Exists(Path.Combine(dir, WeightsFile)) && File.Exists(Path.Combine(dir, IndexFile))) files.Add(Path.Combine(dir, IndexFile));
        files.AddRange(WeightFiles(dir));
        files.AddRange(CompanionFiles.Select(name => Path.Combine(dir, name)).Where(File.Exists));
        return files;
    }

    /// <summary>True when the folder has weights; false when it has only a config (random weights, where the config asks for them).</summary>
    public static bool HasWeights(string dir) => WeightFiles(dir).Count > 0;

    /// <summary>
    /// Refuses a folder without weights whose config does not ask for random ones by name
    /// (<see cref="ModelConfig.RandomInitKey"/>, written by `lwf model init`): a missing weights file must never
    /// turn into a job that fine-tunes noise.
    /// </summary>
    public static void RequireWeights(string dir, ModelConfig? config = null)
    {
        if (HasWeights(dir) || (config ?? ModelConfig.Load(dir)).RandomInit) return;
        throw new LwfInputException($"{dir}: no weights (looked for {WeightsFile} and {IndexFile}); random weights are made only by name: " +
            $"`lwf model init --from {Path.Combine(dir, ModelConfig.FileName)} --out NEW_FOLDER`");
    }

    /// <summary>What a report says of a model that starts from random weights (null for one with weights).</summary>
    public static string? RandomInitNote(string dir, long seed) => HasWeights(dir) ? null
        : $"the model started from random weights (seed {seed}), as its config asks ({ModelConfig.RandomInitKey}, written by `lwf model init`): " +
          "its figures say that the pipeline runs, not what fine-tuning a trained model does";

    private static List<string> WeightFiles(string dir)
    {
        string single = Path.Combine(dir, WeightsFile), index = Path.Combine(dir, IndexFile);
        if (File.Exists(single)) return [single];
        if (!File.Exists(index)) return [];
        var fields = JsonFields.Load(index);
        var map = fields.Object("weight_map") ?? throw fields.Missing("weight_map");
        var shards = map.Json.Select(kv => map.String(kv.Key) ?? throw new LwfInputException($"{index}: weight_map['{kv.Key}'] is not a file name"))
            .Distinct().Order(StringComparer.Ordinal).ToList();
        foreach (var shard in shards)
            if (shard.Contains('/') || shard.Contains('\\')) throw new LwfInputException($"{index}: shard '{shard}' must be a file name in the model folder");
        return shards.Select(s => Path.Combine(dir, s)).ToList();
    }

    private static void LoadWeights(CausalLM model, List<string> files)
    {
        var opened = files.Select(SafeTensorsFile.Open).ToList();
        try
        {
            var available = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var f in opened)
                foreach (var name in f.Entries.Keys) available[name] = f;
            var used = new HashSet<string>(StringComparer.Ordinal);
            var missing = new List<string>();
            using var _ = no_grad();
            foreach (var (name, parameter) in model.named_parameters())
            {
                string? key = CheckpointKey(name, available);
                if (key is null) { missing.Add(name); continue; }
                used.Add(key);
                var file = available[key];
                var entry = file.Entries[key];
                // Integers copied into a float parameter are numbers no training made (a float tensor labelled I32 loads "fine").
                if (parameter.is_floating_point() && entry.DType is not ("F64" or "F32" or "F16" or "BF16"))
                    throw new LwfInputException($"{file.Path}: tensor '{key}' is stored as {entry.DType}, but the model's weights are floating point");
                if (!entry.Shape.SequenceEqual(parameter.shape))
                    throw new LwfInputException($"{file.Path}: tensor '{key}' has shape [{string.Join(",", entry.Shape)}] but the config gives [{string.Join(",", parameter.shape)}]");
                using var loaded = file.Read(key);
                if (NonFinite(loaded)) throw new LwfInputException($"{file.Path}: tensor '{key}' holds NaN or infinite values: not a usable model");
                parameter.copy_(loaded);
            }
            if (missing.Count > 0)
                throw new LwfInputException($"{files[0]}: the checkpoint lacks {missing.Count} parameter(s) the config needs, e.g. {string.Join(", ", missing.Take(5).Select(m => $"'{m}'"))}");
            var unexpected = available.Keys.Where(k => !used.Contains(k) && !IsIgnorable(k, model.Config)).ToList();
            if (unexpected.Count > 0)
                throw new LwfInputException($"{files[0]}: the checkpoint has {unexpected.Count} tensor(s) this {model.Config.ModelType} config does not use, e.g. {string.Join(", ", unexpected.Take(5).Select(m => $"'{m}'"))}");
        }
        finally
        {
            foreach (var f in opened) f.Dispose();
        }
    }

    private static bool NonFinite(Tensor t)
    {
        if (!t.is_floating_point()) return false;
        using var scope = NewDisposeScope();
        return !isfinite(t).all().item<bool>();
    }

    // Original OpenAI GPT-2 checkpoints name GPT2Model's tensors without the "transformer." prefix.
    private static string? CheckpointKey(string name, Dictionary<string, SafeTensorsFile> available)
    {
        if (available.ContainsKey(name)) return name;
        const string prefix = "transformer.";
        if (name.StartsWith(prefix) && available.ContainsKey(name[prefix.Length..])) return name[prefix.Length..];
        return null;
    }

    // Buffers some checkpoints carry, and a tied head saved anyway.
    private static bool IsIgnorable(string key, ModelConfig config) =>
        key.EndsWith(".attn.bias") && config.Family == ModelFamily.Gpt2
        || key.EndsWith(".attn.masked_bias")
        || key.EndsWith("rotary_emb.inv_freq")
        || key == "lm_head.weight" && config.TieWordEmbeddings;

    /// <summary>
    /// Saves the model the way transformers' save_pretrained does (names, shapes, dtypes, {"format":"pt"}),
    /// sharding above <paramref name="maxShardBytes"/>. The folder is written beside its destination and
    /// renamed into place, so a crash never leaves a half-written model.
    /// </summary>
    public static void Save(CausalLM model, string dir, string? companionsFrom = null, long maxShardBytes = DefaultMaxShardBytes)
    {
        RequireFinite(model);
        string target = Path.GetFullPath(dir);
        string parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(staging);
        try
        {
            WriteInto(model, staging, companionsFrom, maxShardBytes);
            ReplaceDirectory(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>The generation config and tokenizer files of one model folder copied into another (those present).</summary>
    public static void CopyCompanions(string fromDir, string toDir)
    {
        foreach (var name in CompanionFiles)
        {
            string from = Path.Combine(fromDir, name);
            if (File.Exists(from)) File.Copy(from, Path.Combine(toDir, name));
        }
    }

    /// <summary>
    /// The model's files (config, weights, generation config, tokenizer) written into <paramref name="dir"/>, which
    /// exists and is the caller's to make whole (a checkpoint's staging folder).
    /// </summary>
    public static void WriteInto(CausalLM model, string dir, string? companionsFrom = null, long maxShardBytes = DefaultMaxShardBytes)
    {
        RequireFinite(model);
        WriteWeights(model, dir, maxShardBytes);
        var indented = new JsonSerializerOptions { WriteIndented = true };
        AtomicFile.WriteText(Path.Combine(dir, "config.json"), model.Config.ToJson(model.WeightDType).ToJsonString(indented));
        if (companionsFrom is not null) CopyCompanions(companionsFrom, dir);
        // A base without these files still generates and tokenizes (from its config, with GPT-2's tokenizer when its
        // vocabulary holds GPT-2's): its saved models carry them, so from_pretrained of model and tokenizer works on them.
        if (!File.Exists(Path.Combine(dir, "generation_config.json")))
        {
            var generation = new JsonObject { ["_from_model_config"] = true };
            if (model.Config.BosTokenId is { } bos) generation["bos_token_id"] = bos;
            if (model.Config.EosTokenIds.Length == 1) generation["eos_token_id"] = model.Config.EosTokenIds[0];
            else if (model.Config.EosTokenIds.Length > 1) generation["eos_token_id"] = new JsonArray(model.Config.EosTokenIds.Select(e => (JsonNode)e).ToArray());
            AtomicFile.WriteText(Path.Combine(dir, "generation_config.json"), generation.ToJsonString(indented));
        }
        bool hasTokenizer = File.Exists(Path.Combine(dir, "tokenizer.json")) || File.Exists(Path.Combine(dir, "tokenizer.model"))
            || File.Exists(Path.Combine(dir, "vocab.json")) && File.Exists(Path.Combine(dir, "merges.txt"));
        if (!hasTokenizer && model.Config.VocabSize >= Text.TextTokenizer.Gpt2VocabSize) Text.Gpt2TokenizerFiles.WriteTo(dir);
    }

    // A NaN model is never a result or a checkpoint.
    private static void RequireFinite(CausalLM model)
    {
        if (model.named_parameters().FirstOrDefault(p => NonFinite(p.parameter)) is { name: { } bad })
            throw new LwfTrainingException($"the model's weights are no longer finite ('{bad}' holds NaN or infinite values): it is not saved");
    }

    private static void WriteWeights(CausalLM model, string dir, long maxShardBytes)
    {
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        var tensors = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToList();
        long total = tensors.Sum(t => t.Item2.numel() * t.Item2.ElementSize);
        if (total <= maxShardBytes)
        {
            SafeTensorsFile.Write(Path.Combine(dir, WeightsFile), tensors, metadata);
            return;
        }
        var shards = new List<List<(string, Tensor)>> { new() };
        long current = 0;
        foreach (var t in tensors.OrderBy(t => t.name, StringComparer.Ordinal))
        {
            long bytes = t.Item2.numel() * t.Item2.ElementSize;
            if (current > 0 && current + bytes > maxShardBytes) { shards.Add([]); current = 0; }
            shards[^1].Add(t);
            current += bytes;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafeTensorsFile.Write(Path.Combine(dir, file), shards[i], metadata);
            foreach (var (name, _) in shards[i]) weightMap[name] = file;
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap };
        AtomicFile.WriteText(Path.Combine(dir, IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private static void ReplaceDirectory(string staging, string target)
    {
        if (!Directory.Exists(target))
        {
            Directory.Move(staging, target);
            return;
        }
        string old = target + $".{Guid.NewGuid():N}.old";
        Directory.Move(target, old);
        Directory.Move(staging, target);
        Directory.Delete(old, recursive: true);
    }
}
