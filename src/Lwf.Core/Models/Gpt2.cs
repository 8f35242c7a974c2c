using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

// GPT-2 (transformers' GPT2LMHeadModel), field names = Hugging Face parameter names:
//   transformer.wte [V,C], transformer.wpe [P,C], transformer.h.{i}.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj},
//   transformer.ln_f, lm_head (only when the embeddings are not tied).
// B = batch, T = new tokens, S = past + T, C = n_embd, H = heads, D = C / H.

/// <summary>transformers' Conv1D: a linear layer whose weight is stored [in, out].</summary>
public sealed class Conv1D : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly Autocast _autocast;

    public Conv1D(long inFeatures, long outFeatures, Autocast autocast) : base(nameof(Conv1D))
    {
        weight = new Parameter(empty(inFeatures, outFeatures));
        bias = new Parameter(zeros(outFeatures));
        _autocast = autocast;
        RegisterComponents();
    }

    public Tensor Weight => weight;
    public Tensor Bias => bias;

    public override Tensor forward(Tensor x) => _autocast.AddMm(bias, x.reshape(-1, x.shape[^1]), weight).view([.. x.shape[..^1], weight.shape[1]]);
}

public sealed class Gpt2Attention : nn.Module
{
    private readonly Conv1D c_attn;
    private readonly Conv1D c_proj;
    private readonly int _heads, _layer;
    private readonly Autocast _autocast;

    public Gpt2Attention(ModelConfig config, int layer, Autocast autocast) : base(nameof(Gpt2Attention))
    {
        c_attn = new Conv1D(config.HiddenSize, 3 * config.HiddenSize, autocast);
        c_proj = new Conv1D(config.HiddenSize, config.HiddenSize, autocast);
        _autocast = autocast;
        _heads = config.NumHeads;
        _layer = layer;
        RegisterComponents();
    }

    public IEnumerable<Conv1D> Projections => [c_attn, c_proj];
    public Conv1D OutputProjection => c_proj;

    public Tensor forward(Tensor x, Tensor? bias, KvCache? cache)
    {
        long b = x.shape[0], t = x.shape[1], c = x.shape[2], d = c / _heads;
        var qkv = c_attn.forward(x).split(c, dim: 2);                 // 3 × [B,T,C]
        var q = qkv[0].view(b, t, _heads, d).transpose(1, 2);          // [B,H,T,D]
        var k = qkv[1].view(b, t, _heads, d).transpose(1, 2);
        var v = qkv[2].view(b, t, _heads, d).transpose(1, 2);
        if (cache is not null) (k, v) = cache.Append(_layer, k, v); // [B,H,S,D]
        var y = _autocast.Attend(q, k, v, bias).transpose(1, 2).contiguous().view(b, t, c);
        return c_proj.forward(y);
    }
}

public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Conv1D c_fc;
    private readonly Conv1D c_proj;
    private readonly string _activation;

    public Gpt2Mlp(ModelConfig config, Autocast autocast) : base(nameof(Gpt2Mlp))
    {
        c_fc = new Conv1D(config.HiddenSize, config.IntermediateSize, autocast);
        c_proj = new Conv1D(config.IntermediateSize, config.HiddenSize, autocast);
        _activation = config.Activation;
        RegisterComponents();
    }

    public IEnumerable<Conv1D> Projections => [c_fc, c_proj];
    public Conv1D OutputProjection => c_proj;

    public override Tensor forward(Tensor x) => c_proj.forward(Layers.Activate(_activation, c_fc.forward(x)));
}

public sealed class Gpt2Block : nn.Module
{
    private readonly LayerNorm ln_1;
    private readonly Gpt2Attention attn;
    private readonly LayerNorm ln_2;
    private readonly Gpt2Mlp mlp;

    public Gpt2Block(ModelConfig config, int layer, Autocast autocast) : base(nameof(Gpt2Block))
    {
        ln_1 = nn.LayerNorm(config.HiddenSize, config.NormEps);
        attn = new Gpt2Attention(config, layer, autocast);
        ln_2 = nn.LayerNorm(config.HiddenSize, config.NormEps);
        mlp = new Gpt2Mlp(config, autocast);
        RegisterComponents();
    }

    public Gpt2Attention Attention => attn;
    public Gpt2Mlp Mlp => mlp;

    public Tensor forward(Tensor x, Tensor? bias, KvCache? cache)
    {
        x = x.Plus(attn.forward(ln_1.forward(x), bias, cache));
        return x.Plus(mlp.forward(ln_2.forward(x)));
    }
}

public sealed class Gpt2Model : nn.Module
{
    private readonly Embedding wte;
    private readonly Embedding wpe;
    private readonly ModuleList<Gpt2Block> h;
    private readonly LayerNorm ln_f;

    public Gpt2Model(ModelConfig config, Autocast autocast) : base(nameof(Gpt2Model))
    {
        wte = nn.Embedding(config.VocabSize, config.HiddenSize);
        wpe = nn.Embedding(config.MaxPositions, config.HiddenSize);
        h = nn.ModuleList(Enumerable.Range(0, config.NumLayers).Select(i => new Gpt2Block(config, i, autocast)).ToArray());
        ln_f = nn.LayerNorm(config.HiddenSize, config.NormEps);
        RegisterComponents();
    }

    public Tensor TokenEmbedding => wte.weight!;
    public Tensor PositionEmbedding => wpe.weight!;
    public IEnumerable<Gpt2Block> Blocks => h;

    public Tensor forward(Tensor inputIds, Tensor positionIds, Tensor? bias, KvCache? cache)
    {
        var x = wte.forward(inputIds).Plus(wpe.forward(positionIds));    // [B,T,C]
        foreach (var block in h) x = block.forward(x, bias, cache);
        return ln_f.forward(x);
    }
}

public sealed class Gpt2LMHeadModel : CausalLM
{
    private readonly Gpt2Model transformer;
    private readonly Linear? lm_head;

    public Gpt2LMHeadModel(ModelConfig config) : base(nameof(Gpt2LMHeadModel), config)
    {
        transformer = new Gpt2Model(config, Autocast);
        lm_head = NewLmHead(config);
        RegisterComponents();
    }

    protected override Tensor HiddenCore(Tensor inputIds, Tensor positionIds, Tensor? bias, KvCache? cache) =>
        transformer.forward(inputIds, positionIds, bias, cache);                                           // [B,T,C]

    protected override Linear? LmHead => lm_head;

    protected override Tensor TokenEmbedding => transformer.TokenEmbedding;

    public override void InitializeWeights(long seed)
    {
        using var _ = no_grad();
        random.manual_seed(seed);
        double std = Config.InitializerRange;
        // GPT-2 scales the residual projections by 1/sqrt(2·layers) (transformers' _init_weights).
        double residualStd = std / Math.Sqrt(2.0 * Config.NumLayers);
        InitNormal(transformer.TokenEmbedding, std);
        InitNormal(transformer.PositionEmbedding, std);
        foreach (var block in transformer.Blocks)
        {
            foreach (var proj in block.Attention.Projections.Concat(block.Mlp.Projections))
            {
                InitNormal(proj.Weight, ReferenceEquals(proj, block.Attention.OutputProjection) || ReferenceEquals(proj, block.Mlp.OutputProjection) ? residualStd : std);
                InitConstant(proj.Bias, 0);
            }
        }
        foreach (var (name, p) in named_parameters())
            if (name.Contains(".ln_")) InitConstant(p, name.EndsWith(".weight") ? 1 : 0);
        if (lm_head is not null) InitNormal(lm_head.weight!, std);
    }
}
