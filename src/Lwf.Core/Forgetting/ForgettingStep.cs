using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

public enum ForgettingLossKind
{
    /// <summary>Gradient ascent: −α·ℓ.</summary>
    Ga,
    /// <summary>Maximum entropy: α·½(log|V| − H(p_t))², averaged over response tokens.</summary>
    Me,
}

public sealed record ForgettingStepOptions
{
    public ForgettingLossKind Loss { get; init; } = ForgettingLossKind.Ga;
    public double Alpha { get; init; } = 1.0;
    public double LearningRate { get; init; } = 5e-5;
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>λ of Fisher protection: the update of θ_j is damped by 1/(1 + λ·F_j/mean(F)); 0 = off.</summary>
    public double FisherProtect { get; init; }

    public void Validate()
    {
        if (Alpha is not (>= 0 and <= 1000)) throw new LwfInputException($"alpha must be in [0, 1000], got {Alpha}");
        if (LearningRate is not (> 0 and <= 1)) throw new LwfInputException($"the forgetting learning rate must be in (0, 1], got {LearningRate}");
        if (FisherProtect is not (>= 0 and <= 1e6)) throw new LwfInputException($"fisher_protect must be in [0, 1e6], got {FisherProtect}");
    }
}

/// <summary>
/// The forgetting losses of DESIGN.md §1.5 as sums over a batch's response tokens, so that sums from any
/// split of the batch add up: ga's numerator is Σ NLL (the step scales it by −α / tokens), me's is
/// Σ ½(log|V| − H(p_t))² (scaled by α / tokens).
/// </summary>
public static class ForgettingGradient
{
    /// <summary>∇(numerator) summed over the micro-batches, with the batch's ΣNLL and loss-token count.</summary>
    public static GradientSums Accumulate(CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches,
        ForgettingLossKind kind, long padId, GradientPrecision precision)
    {
        var sums = GradientSums.Start(model, precision);
        AddTo(sums, model, microBatches, kind, padId);
        return sums;
    }

    /// <summary>Adds ∇(numerator) over the micro-batches into <paramref name="sums"/>.</summary>
    public static void AddTo(GradientSums sums, CausalLM model, IEnumerable<IReadOnlyList<TokenizedRecord>> microBatches,
        ForgettingLossKind kind, long padId) =>
        sums.Add(model, microBatches, micro =>
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro, padId, model.Device);
            var logits = model.Forward(batch.InputIds, batch.AttentionMask);
            long t = logits.shape[1], v = logits.shape[2];
            var mask = batch.LossMask.narrow(1, 1, t - 1).to(ScalarType.Float32);           // [B,T-1]
            var logProbs = logits.narrow(1, 0, t - 1).log_softmax(-1);                       // [B,T-1,V]
            var nll = -logProbs.gather(-1, batch.InputIds.narrow(1, 1, t - 1).unsqueeze(-1)).squeeze(-1);
            var nllTotal = (nll * mask).sum();
            Tensor numerator = nllTotal;
            if (kind == ForgettingLossKind.Me)
            {
                var entropy = -(logProbs.exp() * logProbs).sum(-1);                         // [B,T-1]
                var gap = Math.Log(v) - entropy;
                numerator = (0.5 * gap * gap * mask).sum();
            }
            numerator.backward();
            return (nllTotal.item<float>(), batch.LossTokens, batch.InputTokens, micro.Count);
        });

    /// <summary>What the step multiplies the numerator's gradient by.</summary>
    public static double Scale(ForgettingLossKind kind, double alpha, long tokens) =>
        (kind == ForgettingLossKind.Ga ? -alpha : alpha) / Math.Max(1, tokens);
}

/// <summary>
/// Takes forgetting steps with an AdamW of its own (no weight decay), so unlearning never disturbs the
/// learning task's moment estimates, and so α = 0 with the forgetting steps skipped is plain fine-tuning.
/// With Fisher protection, the step's parameter change Δ is replaced by d ⊙ Δ.
/// </summary>
public sealed class ForgettingStepper : IDisposable
{
    private readonly CausalLM _model;
    private readonly ForgettingStepOptions _options;
    private readonly long _padId;
    private readonly AdamW _optimizer;
    private readonly List<Parameter> _parameters;
    private Dictionary<string, Tensor>? _damping;

    public ForgettingStepper(CausalLM model, ForgettingStepOptions options, long padId)
    {
        options.Validate();
        _model = model;
        _options = options;
        _padId = padId;
        _parameters = model.parameters().ToList();
        _optimizer = optim.AdamW(_parameters, options.LearningRate, 0.9, 0.999, 1e-8, 0.0);
    }

    public int StepsTaken { get; private set; }

    /// <summary>Sets (or, with null, clears) the Fisher that protection damps by.</summary>
    public void UseFisher(FisherEstimate? fisher)
    {
        if (_damping is not null) foreach (var t in _damping.Values) t.Dispose();
        _damping = null;
        if (fisher is null || _options.FisherProtect == 0) return;
        double mean = Math.Max(fisher.MeanFisher(), 1e-30);
        using var _ = no_grad();
        _damping = fisher.Names.ToDictionary(n => n,
            n => (1.0 / (1.0 + _options.FisherProtect * fisher.Fisher(n) / mean)).DetachFromDisposeScope());
    }

    /// <summary>One forgetting step on a batch; returns the batch's mean token NLL before the step.</summary>
    public double Step(IReadOnlyList<TokenizedRecord> records)
    {
        using var sums = ForgettingGradient.Accumulate(_model, [records], _options.Loss, _padId, GradientPrecision.Float32);
        sums.WriteToGrad(_model);
        ApplyGradients(sums.Tokens);
        return sums.NllSum / Math.Max(1, sums.Tokens);
    }

    /// <summary>
    /// The step once .grad holds ∇ of the loss numerator summed over the batch (here or across shards):
    /// scales by ±α / tokens, clips, steps its AdamW, and damps the change where the Fisher is large.
    /// </summary>
    public void ApplyGradients(long tokens)
    {
        if (_options.FisherProtect > 0 && _damping is null)
            throw new InvalidOperationException("Fisher protection is on but no Fisher was given (UseFisher)");
        using var scope = NewDisposeScope();
        double scale = ForgettingGradient.Scale(_options.Loss, _options.Alpha, tokens);
        using (no_grad())
        using (Scalar factor = scale) // one Scalar, alive until the loop ends
            foreach (var p in _parameters) p.grad?.mul_(factor);
        double norm = _options.MaxGradNorm > 0 ? nn.utils.clip_grad_norm_(_parameters, _options.MaxGradNorm) : FineTuner.GradNorm(_parameters);
        if (!double.IsFinite(norm))
            throw new LwfTrainingException($"forgetting step {StepsTaken + 1}: the gradient norm is {norm} (alpha {_options.Alpha}); " +
                "the step was not taken and the weights are those before it");
        var before = _damping is null ? null : _model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        _optimizer.step();
        if (before is not null)
        {
            using var _ = no_grad();
            foreach (var (name, p) in _model.named_parameters())
                p.copy_(before[name] + _damping![name].to(p.dtype) * (p - before[name]));
        }
        StepsTaken++;
    }

    /// <summary>The forgetting AdamW's state (TorchSharp's state-dict format) for a checkpoint.</summary>
    public void SaveState(string path) => _optimizer.save_state_dict(path);

    public void RestoreState(int stepsTaken, string path)
    {
        _optimizer.load_state_dict(path);
        StepsTaken = stepsTaken;
    }

    public void Dispose()
    {
        UseFisher(null);
        _optimizer.Dispose();
    }
}
