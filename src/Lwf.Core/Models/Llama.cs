using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

// Llama (transformers' LlamaForCausalLM), field names = Hugging Face parameter names:
//   model.embed_tokens [V,C], model.layers.{i}.{input_layernorm, self_attn.{q,k,v,o}_proj,
//   post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head [V,C] (absent when tied).
// B = batch, T = new tokens, S = past + T, C = hidden, H = heads, KV = key-value heads, D = head_dim.

public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double _eps;

    public RmsNorm(long size, double eps) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(size));
        _eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        // Normalise in float32 whatever the weights' dtype, as transformers does.
        var x32 = x.to(ScalarType.Float32);
        using Scalar eps = _eps;
        var normed = x32 * rsqrt(x32.Square().mean([-1], keepdim: true).Plus(eps));
        return weight * normed.to(x.dtype);
    }
}

/// <summary>Rotary position embedding: cos and sin tables for given positions.</summary>
public sealed class RotaryEmbedding : nn.Module
{
    private readonly Tensor inv_freq; // [D/2], a buffer: moves with the model, never saved (not in HF checkpoints)

    public RotaryEmbedding(ModelConfig config) : base(nameof(RotaryEmbedding))
    {
        var rope = config.Rope!;
        inv_freq = tensor(rope.InverseFrequencies(config.HeadDim), dtype: ScalarType.Float32);
        register_buffer(nameof(inv_freq), inv_freq, persistent: false);
    }

    /// <summary>positions [B,T] → (cos, sin), each [B,1,T,D] in float32.</summary>
    public (Tensor Cos, Tensor Sin) forward(Tensor positions)
    {
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inv_freq.to(positions.device); // [B,T,D/2]
        var emb = cat([freqs, freqs], -1).unsqueeze(1);                                           // [B,1,T,D]
        return (emb.cos(), emb.sin());
    }

    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var rotated = cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return (x.to(ScalarType.Float32) * cos).Plus(rotated.to(ScalarType.Float32) * sin).to(x.dtype);
    }
}

public sealed class LlamaAttention : nn.Module
{
    private readonly Linear q_proj, k_proj, v_proj, o_proj;
    private readonly int _heads, _kvHeads, _headDim, _layer;
    private readonly Autocast _autocast;

    public LlamaAttention(ModelConfig config, int layer, Autocast autocast) : base(nameof(LlamaAttention))
    {
        _autocast = autocast;
        _heads = config.NumHeads; _kvHeads = config.NumKeyValueHeads; _headDim = config.HeadDim; _layer = layer;
        q_proj = nn.Linear(config.HiddenSize, _heads * _headDim, hasBias: config.AttentionBias);
        k_proj = nn.Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: config.AttentionBias);
        v_proj = nn.Linear(config.HiddenSize, _kvHeads * _headDim, hasBias: config.AttentionBias);
        o_proj = nn.Linear(_heads * _headDim, config.HiddenSize, hasBias: config.AttentionBias);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? bias, KvCache? cache)
    {
        long b = x.shape[0], t = x.shape[1];
        var q = _autocast.Linear(q_proj, x).view(b, t, _heads, _headDim).transpose(1, 2);   // [B,H,T,D]
        var k = _autocast.Linear(k_proj, x).view(b, t, _kvHeads, _headDim).transpose(1, 2); // [B,KV,T,D]
        var v = _autocast.Linear(v_proj, x).view(b, t, _kvHeads, _headDim).transpose(1, 2);
        q = RotaryEmbedding.Apply(q, cos, sin);
        k = RotaryEmbedding.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(_layer, k, v);              // [B,KV,S,D]
        var y = _autocast.Attend(q, k, v, bias).transpose(1, 2).contiguous().view(b, t, _heads * _headDim);
        return _autocast.Linear(o_proj, y);
    }
}

public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear gate_proj, up_proj, down_proj;
    private readonly string _activation;
    private readonly Autocast _autocast;

    public LlamaMlp(ModelConfig config, Autocast autocast) : base(nameof(LlamaMlp))
    {
        _autocast = autocast;
        gate_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        up_proj = nn.Linear(config.HiddenSize, config.IntermediateSize, hasBias: config.MlpBias);
        down_proj = nn.Linear(config.IntermediateSize, config.HiddenSize, hasBias: config.MlpBias);
        _activation = config.Activation;
        RegisterComponents();
    }

    // SwiGLU: down(act(gate(x)) ⊙ up(x))
    public override Tensor forward(Tensor x) =>
        _autocast.Linear(down_proj, Layers.Activate(_activation, _autocast.Linear(gate_proj, x)) * _autocast.Linear(up_proj, x));
}

public sealed class LlamaDecoderLayer : nn.Module
{
    private readonly RmsNorm input_layernorm;
    private readonly LlamaAttention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly LlamaMlp mlp;

    public LlamaDecoderLayer(ModelConfig config, int layer, Autocast autocast) : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.NormEps);
        self_attn = new LlamaAttention(config, layer, autocast);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.NormEps);
        mlp = new LlamaMlp(config, autocast);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sin, Tensor? bias, KvCache? cache)
    {
        x = x.Plus(self_attn.forward(input_layernorm.forward(x), cos, sin, bias, cache));
        return x.Plus(mlp.forward(post_attention_layernorm.forward(x)));
    }
}

public sealed class LlamaModel : nn.Module
{
    private readonly Embedding embed_tokens;
    private readonly ModuleList<LlamaDecoderLayer> layers;
    private readonly RmsNorm norm;
    private readonly RotaryEmbedding rotary_emb;

    public LlamaModel(ModelConfig config, Autocast autocast) : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(config.VocabSize, config.HiddenSize);
        layers = nn.ModuleList(Enumerable.Range(0, config.NumLayers).Select(i => new LlamaDecoderLayer(config, i, autocast)).ToArray());
        norm = new RmsNorm(config.HiddenSize, config.NormEps);
        rotary_emb = new RotaryEmbedding(config);
        RegisterComponents();
    }

    public Tensor TokenEmbedding => embed_tokens.weight!;

    public Tensor forward(Tensor inputIds, Tensor positionIds, Tensor? bias, KvCache? cache)
    {
        var x = embed_tokens.forward(inputIds);                        // [B,T,C]
        var (cos, sin) = rotary_emb.forward(positionIds);
        foreach (var layer in layers) x = layer.forward(x, cos, sin, bias, cache);
        return norm.forward(x);
    }
}

public sealed class LlamaForCausalLM : CausalLM
{
    private readonly LlamaModel model;
    private readonly Linear? lm_head;

    public LlamaForCausalLM(ModelConfig config) : base(nameof(LlamaForCausalLM), config)
    {
        model = new LlamaModel(config, Autocast);
        lm_head = NewLmHead(config);
        RegisterComponents();
    }

    protected override Tensor HiddenCore(Tensor inputIds, Tensor positionIds, Tensor? bias, KvCache? cache) =>
        model.forward(inputIds, positionIds, bias, cache);                                           // [B,T,C]

    protected override Linear? LmHead => lm_head;

    protected override Tensor TokenEmbedding => model.TokenEmbedding;

    public override void InitializeWeights(long seed)
    {
        using var _ = no_grad();
        random.manual_seed(seed);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight")) InitConstant(p, 1);
            else if (name.EndsWith(".bias")) InitConstant(p, 0);
            else InitNormal(p, Config.InitializerRange);
        }
    }
}
