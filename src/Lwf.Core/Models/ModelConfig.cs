using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

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
        return Parse(JsonFields.Load(path).Json, path);
    }

    public static ModelConfig Parse(JsonObject json, string source)
    {
        var r = new JsonFields(json, source);
        string modelType = r.String("model_type") ?? throw r.Missing("model_type");
        var family = modelType switch
        {
            "gpt2" => ModelFamily.Gpt2,
            "llama" or "mistral" or "qwen2" => ModelFamily.Llama,
            _ => throw new LwfInputException(
                $"{source}: model_type '{modelType}' is not supported (supported: gpt2, llama; llama-shaped mistral and qwen2 load as llama)"),
        };
        var dtypeName = r.String("dtype") ?? r.String("torch_dtype");
        var dtype = dtypeName == null ? ScalarType.Float32 : DTypes.FromConfigName(dtypeName);
        int[] eos = (r.Longs("eos_token_id") ?? []).Select(id => id is >= 0 and <= int.MaxValue ? (int)id
            : throw new LwfInputException($"{source}: key 'eos_token_id' holds {id}, not a token id")).ToArray();
        CheckUnread(r, family);
        if (family == ModelFamily.Gpt2)
        {
            int hidden = Size(r, "n_embd");
            int heads = Size(r, "n_head");
            if (hidden % heads != 0) throw new LwfInputException($"{source}: n_embd {hidden} is not divisible by n_head {heads}");
            if (r.Bool("scale_attn_by_inverse_layer_idx") == true || r.Bool("reorder_and_upcast_attn") == true)
                throw new LwfInputException($"{source}: scale_attn_by_inverse_layer_idx and reorder_and_upcast_attn are not supported");
            return new ModelConfig
            {
                Family = family, ModelType = modelType, Json = json, DType = dtype,
                VocabSize = Size(r, "vocab_size"), HiddenSize = hidden, NumLayers = Size(r, "n_layer"),
                NumHeads = heads, NumKeyValueHeads = heads, HeadDim = hidden / heads,
                IntermediateSize = r.Count("n_inner") ?? 4 * hidden,
                MaxPositions = Size(r, "n_positions"),
                NormEps = r.Double("layer_norm_epsilon") ?? 1e-5,
                Activation = r.String("activation_function") ?? "gelu_new",
                TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? true,
                AttentionBias = true, MlpBias = true,
                InitializerRange = r.Double("initializer_range") ?? 0.02,
                BosTokenId = r.Int("bos_token_id"), EosTokenIds = eos, PadTokenId = r.Int("pad_token_id"),
                RandomInit = r.Bool(RandomInitKey) == true,
            };
        }
        else
        {
            int hidden = Size(r, "hidden_size");
            int heads = Size(r, "num_attention_heads");
            int kvHeads = r.Count("num_key_value_heads") ?? heads;
            if (heads % kvHeads != 0) throw new LwfInputException($"{source}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
            int headDim = r.Count("head_dim") ?? hidden / heads;
            return new ModelConfig
            {
                Family = family, ModelType = modelType, Json = json, DType = dtype,
                VocabSize = Size(r, "vocab_size"), HiddenSize = hidden, NumLayers = Size(r, "num_hidden_layers"),
                NumHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = headDim,
                IntermediateSize = Size(r, "intermediate_size"),
                MaxPositions = r.Count("max_position_embeddings") ?? 2048,
                NormEps = r.Double("rms_norm_eps") ?? 1e-6,
                Activation = r.String("hidden_act") ?? "silu",
                TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
                AttentionBias = r.Bool("attention_bias") ?? modelType == "qwen2",
                MlpBias = r.Bool("mlp_bias") ?? false,
                InitializerRange = r.Double("initializer_range") ?? 0.02,
                Rope = RopeSettings.Parse(r, headDim),
                BosTokenId = r.Int("bos_token_id"), EosTokenIds = eos, PadTokenId = r.Int("pad_token_id"),
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

    /// <summary>
    /// Keys transformers writes that change nothing here (dropout, which fine-tuning here does not apply; the cache; the
    /// double-heads model's summary), read for their type all the same, so that a mistyped file is one error naming the
    /// key, not a file that loads here and fails in transformers. A JSON null is "not set", as transformers reads it.
    /// Two that would change the model are refused when they ask for what these models do not do.
    /// </summary>
    private static void CheckUnread(JsonFields r, ModelFamily family)
    {
        r.Bool("use_cache");
        r.String("transformers_version");
        r.Strings("architectures");
        if (family == ModelFamily.Gpt2)
        {
            foreach (string dropout in new[] { "attn_pdrop", "embd_pdrop", "resid_pdrop", "summary_first_dropout" }) r.Double(dropout);
            r.String("summary_activation");
            r.String("summary_type");
            r.Bool("summary_proj_to_labels");
            r.Bool("summary_use_proj");
            if (r.Bool("scale_attn_weights") == false)
                throw new LwfInputException($"{r.Source}: scale_attn_weights false is not supported (attention here is scaled by 1/sqrt(head dim), as GPT-2's is)");
            if (r.Bool("add_cross_attention") == true)
                throw new LwfInputException($"{r.Source}: add_cross_attention true is not supported (a decoder-only model has no encoder to attend to)");
        }
        else
        {
            r.Double("attention_dropout");
            r.Count("pretraining_tp", max: 1024);
        }
    }

    private static int Size(JsonFields r, string key) => r.Count(key) ?? throw r.Missing(key);
}
