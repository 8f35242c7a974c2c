using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>
/// A decoder-only language model whose parameter names are exactly Hugging Face's, so that
/// <c>named_parameters()</c> is the checkpoint's key set (tied weights appear once, as in transformers).
/// </summary>
public abstract class CausalLM : nn.Module
{
    public ModelConfig Config { get; }

    protected CausalLM(string name, ModelConfig config) : base(name) => Config = config;

    /// <summary>Mixed precision: off unless a trainer turns it on (see <see cref="Models.Autocast"/>); every layer reads this one.</summary>
    public Autocast Autocast { get; } = new();

    /// <summary>
    /// inputIds [B,T] int64; attentionMask [B, past+T] (1 = token, 0 = padding) or null for no padding;
    /// positionIds [B,T] or null for past..past+T-1; cache holds keys and values of earlier positions.
    /// Returns logits [B,T,V] in float32.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null, KvCache? cache = null)
    {
        using var scope = NewDisposeScope();
        var hidden = Hidden(inputIds, attentionMask, positionIds, cache);
        cache?.Advance(inputIds.shape[1]);
        return Head(hidden).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The summed token NLL per row [B] and the loss tokens per row [B] of inputIds [B,T], where targetMask [B,T] is
    /// true for each token that is a loss target (predicted from position t − 1). The same numbers as
    /// <see cref="Training.TokenLoss.PerRow"/> of <see cref="Forward"/>'s logits, but the vocabulary projection runs
    /// only at the positions that predict a target: a prompt's tokens cost no [V]-wide logits, which with GPT-2's
    /// 50,257 tokens and short answers is most of a small model's compute.
    /// </summary>
    public (Tensor Sum, Tensor Count) TokenNll(Tensor inputIds, Tensor? attentionMask, Tensor targetMask)
    {
        using var scope = NewDisposeScope();
        long batch = inputIds.shape[0], length = inputIds.shape[1];
        using Scalar positions = length - 1;
        var hidden = Hidden(inputIds, attentionMask, null, null);                                  // [B,T,C]
        var predicts = targetMask.narrow(1, 1, length - 1);                                         // [B,T-1]
        var at = predicts.reshape(-1).nonzero().squeeze(1);                                         // [N] into B·(T−1)
        var rows = hidden.narrow(1, 0, length - 1).reshape(-1, hidden.shape[2]).index_select(0, at); // [N,C]
        var targets = inputIds.narrow(1, 1, length - 1).reshape(-1).index_select(0, at);            // [N]
        var nll = nn.functional.cross_entropy(Head(rows).to(ScalarType.Float32), targets, reduction: nn.Reduction.None); // [N]
        var sum = zeros(batch, dtype: ScalarType.Float32, device: inputIds.device)
            .index_add(0, div(at, positions, rounding_mode: RoundingMode.floor).to(ScalarType.Int64), nll, KeptScalars.One);
        var count = predicts.to(ScalarType.Float32).sum(1);
        return (sum.MoveToOuterDisposeScope(), count.MoveToOuterDisposeScope());
    }

    /// <summary>The final hidden states [B,T,C] (after the last norm), before the vocabulary projection.</summary>
    private Tensor Hidden(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds, KvCache? cache)
    {
        CheckTokenIds(inputIds);
        long batch = inputIds.shape[0], length = inputIds.shape[1];
        long past = cache?.Length ?? 0;
        if (past + length > Config.MaxPositions)
            throw new LwfInputException($"sequence of {past + length} tokens is longer than the model's {Config.MaxPositions} positions");
        positionIds ??= KeptScalars.Range(past, past + length, inputIds.device).unsqueeze(0).expand(batch, length);
        var bias = AttentionBias.Build(attentionMask, batch, length, past, inputIds.device, ComputeDType);
        return HiddenCore(inputIds, positionIds, bias, cache);
    }

    /// <summary>bias: [B,1,T,past+T] additive mask, or null for a plain causal mask without padding. Returns [B,T,C].</summary>
    protected abstract Tensor HiddenCore(Tensor inputIds, Tensor positionIds, Tensor? bias, KvCache? cache);

    /// <summary>The vocabulary projection (lm_head, or the tied embeddings): [...,C] → [...,V] in the compute dtype.</summary>
    protected Tensor Head(Tensor hidden) =>
        LmHead is { } head ? Autocast.Linear(head, hidden) : Autocast.TiedHead(hidden, TokenEmbedding);

    /// <summary>The family's lm_head [V,C], or null when the word embeddings are tied (the family registers it under its own name).</summary>
    protected abstract Linear? LmHead { get; }

    /// <summary>The token embedding [V,C], which a tied head projects with.</summary>
    protected abstract Tensor TokenEmbedding { get; }

    /// <summary>An lm_head for <paramref name="config"/>: none when the embeddings are tied, as transformers' tie_word_embeddings.</summary>
    protected static Linear? NewLmHead(ModelConfig config) =>
        config.TieWordEmbeddings ? null : nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);

    /// <summary>Fills every parameter the way transformers initialises a fresh model.</summary>
    public abstract void InitializeWeights(long seed);

    /// <summary>The weights' dtype: the master copy under mixed precision, and what a checkpoint stores.</summary>
    public ScalarType WeightDType => parameters().First().dtype;

    /// <summary>The dtype the matrix products and attention run in.</summary>
    public ScalarType ComputeDType => Autocast.DType ?? WeightDType;

    public Device Device => parameters().First().device;

    public long ParameterCount => parameters().Sum(p => p.numel());

    private void CheckTokenIds(Tensor inputIds)
    {
        if (inputIds.dtype != ScalarType.Int64) throw new LwfInputException($"input_ids must be int64, got {inputIds.dtype}");
        if (inputIds.dim() != 2) throw new LwfInputException($"input_ids must be [batch, length], got [{string.Join(",", inputIds.shape)}]");
        if (inputIds.numel() == 0) throw new LwfInputException("input_ids is empty");
        long max = inputIds.max().item<long>(), min = inputIds.min().item<long>();
        if (max >= Config.VocabSize || min < 0)
            throw new LwfInputException($"token id {(max >= Config.VocabSize ? max : min)} is outside the vocabulary 0..{Config.VocabSize - 1} (vocab_size {Config.VocabSize})");
    }

    public static CausalLM Create(ModelConfig config) => config.Family switch
    {
        ModelFamily.Gpt2 => new Gpt2LMHeadModel(config),
        ModelFamily.Llama => new LlamaForCausalLM(config),
        _ => throw new LwfInputException($"unsupported model family {config.Family}"),
    };

    /// <summary>Normal(0, std) in place, under no_grad.</summary>
    protected static void InitNormal(Tensor weight, double std)
    {
        using var _ = no_grad();
        nn.init.normal_(weight, 0, std);
    }

    protected static void InitConstant(Tensor? tensor, double value)
    {
        if (tensor is null) return;
        using var _ = no_grad();
        using Scalar fill = value;
        tensor.fill_(fill);
    }
}
