using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

public enum ModelFamily { Gpt2, Llama }

/// <summary>
/// The parts of a Hugging Face <c>config.json</c> the models use. The original JSON is kept, so a saved
/// model writes back every key it was loaded with (transformers reads keys we do not know about).
/// </summary>
public sealed class ModelConfig
{
    /// <summary>The file a model folder holds its config in, as transformers names it.</summary>
    public const string FileName = "config.json";

    /// <summary>
    /// The config key that asks, by name, for random weights when the folder has none: `lwf model init` writes it.
    /// Without it a folder without weights is refused, so that no job fine-tunes noise by mistake.
    /// </summary>
    public const string RandomInitKey = "lwf_random_init";

    /// <summary>The config asks for seeded random weights when its folder has none (<see cref="RandomInitKey"/>).</summary>
    public bool RandomInit { get; init; }

    public required ModelFamily Family { get; init; }
    public required string ModelType { get; init; }
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int IntermediateSize { get; init; }
    public required int MaxPositions { get; init; }
    public required double NormEps { get; init; }
    public required string Activation { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    public bool AttentionBias { get; init; }
    public bool MlpBias { get; init; }
    public double InitializerRange { get; init; } = 0.02;
    public RopeSettings? Rope { get; init; }
    public int? BosTokenId { get; init; }
    public int[] EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>The id padding positions hold: pad_token_id, else the first EOS, else 0 (padding is masked anyway).</summary>
    public long PaddingId => PadTokenId ?? (EosTokenIds.Length > 0 ? EosTokenIds[0] : 0);
    public required JsonObject Json { get; init; }

    public static ModelConfig Load(string modelDir)
    {
        string path = Path.Combine(modelDir, FileName);
        if (!Directory.Exists(modelDir)) throw new LwfInputException($"{modelDir}: model folder not found");
        if (!File.Exists(path)) throw new LwfInputException($"{path}: not found (a model folder needs a Hugging Face config.json)");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new LwfInputException($"{path}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new LwfInputException($"{path}: not valid JSON (line {e.LineNumber + 1}): {e.Message}");
        }
        return Parse(json, path);
    }

    public static ModelConfig Parse(JsonObject json, string source)
    {
        var r = new ConfigReader(json, source);
        string modelType = r.String("model_type") ?? throw new LwfInputException($"{source}: missing key 'model_type'");
        var family = modelType switch
        {
            "gpt2" => ModelFamily.Gpt2,
            "llama" or "mistral" or "qwen2" => ModelFamily.Llama,
            _ => throw new LwfInputException(
                $"{source}: model_type '{modelType}' is not supported (supported: gpt2, llama; llama-shaped mistral and qwen2 load as llama)"),
        };
        var dtypeName = r.String("dtype") ?? r.String("torch_dtype");
        var dtype = dtypeName == null ? ScalarType.Float32 : DTypes.FromConfigName(dtypeName);
        int[] eos = json["eos_token_id"] switch
        {
            null => [],
            JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
            var v => [v.GetValue<int>()],
        };
        if (family == ModelFamily.Gpt2)
        {
            int hidden = r.Size("n_embd");
            int heads = r.Size("n_head");
            if (hidden % heads != 0) throw new LwfInputException($"{source}: n_embd {hidden} is not divisible by n_head {heads}");
            if (r.Bool("scale_attn_by_inverse_layer_idx") == true || r.Bool("reorder_and_upcast_attn") == true)
                throw new LwfInputException($"{source}: scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported");
            return new ModelConfig
            {
                Family = family, ModelType = modelType, Json = json, DType = dtype,
                VocabSize = r.Size("vocab_size"), HiddenSize = hidden, NumLayers = r.Size("n_layer"),
                NumHeads = heads, NumKeyValueHeads = heads, HeadDim = hidden / heads,
                IntermediateSize = r.OptionalSize("n_inner") ?? 4 * hidden,
                MaxPositions = r.Size("n_positions"),
                NormEps = r.OptionalDouble("layer_norm_epsilon") ?? 1e-5,
                Activation = r.String("activation_function") ?? "gelu_new",
                TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? true,
                AttentionBias = true, MlpBias = true,
                InitializerRange = r.OptionalDouble("initializer_range") ?? 0.02,
                BosTokenId = r.OptionalInt("bos_token_id"), EosTokenIds = eos, PadTokenId = r.OptionalInt("pad_token_id"),
                RandomInit = r.Bool(RandomInitKey) == true,
            };
        }
        else
        {
            int hidden = r.Size("hidden_size");
            int heads = r.Size("num_attention_heads");
            int kvHeads = r.OptionalSize("num_key_value_heads") ?? heads;
            if (heads % kvHeads != 0) throw new LwfInputException($"{source}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
            int headDim = r.OptionalSize("head_dim") ?? hidden / heads;
            return new ModelConfig
            {
                Family = family, ModelType = modelType, Json = json, DType = dtype,
                VocabSize = r.Size("vocab_size"), HiddenSize = hidden, NumLayers = r.Size("num_hidden_layers"),
                NumHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = headDim,
                IntermediateSize = r.Size("intermediate_size"),
                MaxPositions = r.OptionalSize("max_position_embeddings") ?? 2048,
                NormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-6,
                Activation = r.String("hidden_act") ?? "silu",
                TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
                AttentionBias = r.Bool("attention_bias") ?? modelType == "qwen2",
                MlpBias = r.Bool("mlp_bias") ?? false,
                InitializerRange = r.OptionalDouble("initializer_range") ?? 0.02,
                Rope = RopeSettings.Parse(json, source, headDim),
                BosTokenId = r.OptionalInt("bos_token_id"), EosTokenIds = eos, PadTokenId = r.OptionalInt("pad_token_id"),
                RandomInit = r.Bool(RandomInitKey) == true,
            };
        }
    }

    /// <summary>The config to save, with the dtype the weights are written in.</summary>
    public JsonObject ToJson(ScalarType savedDType)
    {
        var json = (JsonObject)Json.DeepClone();
        json["dtype"] = DTypes.ToConfigName(savedDType);
        json.Remove("torch_dtype");
        return json;
    }

    private sealed class ConfigReader(JsonObject json, string source)
    {
        public int Int(string key) => OptionalInt(key) ?? throw new LwfInputException($"{source}: missing key '{key}'");

        /// <summary>A dimension or count: a zero or negative one would fail deep inside the model (a division by n_head, an empty matrix).</summary>
        public int Size(string key) => OptionalSize(key) ?? throw new LwfInputException($"{source}: missing key '{key}'");

        public int? OptionalSize(string key) => OptionalInt(key) is not { } v ? null
            : v is >= 1 and <= MaxSize ? v : throw new LwfInputException($"{source}: key '{key}' must be an integer in 1..{MaxSize}, got {v}");

        private const int MaxSize = 10_000_000;

        public int? OptionalInt(string key) => Value(key, n => n.GetValue<int>(), "an integer");

        public double? OptionalDouble(string key) => Value(key, n => n.GetValue<double>(), "a number");

        public bool? Bool(string key) => Value(key, n => n.GetValue<bool>(), "true or false");

        public string? String(string key) => json[key] is null ? null : Read(key, n => n.GetValue<string>(), "a string");

        // JSON null and a missing key both mean "not set" (transformers writes "n_inner": null).
        private T? Value<T>(string key, Func<JsonNode, T> read, string what) where T : struct =>
            json[key] is null ? null : Read(key, read, what);

        private T Read<T>(string key, Func<JsonNode, T> read, string what)
        {
            var node = json[key]!;
            try
            {
                return read(node);
            }
            catch (Exception e) when (e is InvalidOperationException or FormatException)
            {
                throw new LwfInputException($"{source}: key '{key}' must be {what}, got {node.ToJsonString()}");
            }
        }
    }
}

/// <summary>Rotary position embedding settings, from transformers-5 <c>rope_parameters</c> or older <c>rope_theta</c>/<c>rope_scaling</c>.</summary>
public sealed record RopeSettings(double Theta, string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions)
{
    public static RopeSettings Parse(JsonObject json, string source, int headDim)
    {
        var p = json["rope_parameters"] as JsonObject ?? json["rope_scaling"] as JsonObject;
        double theta = p?["rope_theta"]?.GetValue<double>() ?? json["rope_theta"]?.GetValue<double>() ?? 10000.0;
        string type = p?["rope_type"]?.GetValue<string>() ?? p?["type"]?.GetValue<string>() ?? "default";
        double factor = p?["factor"]?.GetValue<double>() ?? 1.0;
        if (type is not ("default" or "linear" or "llama3"))
            throw new LwfInputException($"{source}: rope type '{type}' is not supported (supported: default, linear, llama3)");
        return new RopeSettings(theta, type, factor,
            p?["low_freq_factor"]?.GetValue<double>() ?? 1.0,
            p?["high_freq_factor"]?.GetValue<double>() ?? 4.0,
            p?["original_max_position_embeddings"]?.GetValue<int>() ?? 8192);
    }

    /// <summary>Inverse frequencies [headDim/2], as transformers computes them.</summary>
    public double[] InverseFrequencies(int headDim)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            // transformers computes theta ** (arange(0, dim, 2, int64).float() / dim) in float32
            float exponent = (float)(2 * i) / headDim;
            inv[i] = 1.0 / (float)Math.Pow(Theta, exponent);
        }
        if (Type == "linear")
            for (int i = 0; i < inv.Length; i++) inv[i] /= Factor;
        else if (Type == "llama3")
        {
            double lowWavelen = OriginalMaxPositions / LowFreqFactor, highWavelen = OriginalMaxPositions / HighFreqFactor;
            for (int i = 0; i < inv.Length; i++)
            {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowWavelen) inv[i] /= Factor;
                else if (wavelen >= highWavelen)
                {
                    double smooth = (OriginalMaxPositions / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / Factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
