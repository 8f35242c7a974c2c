using Lwf.Core.Data;
using Lwf.Core.Models;
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
        if (!(Alpha >= 0) || !double.IsFinite(Alpha)) throw new LwfInputException($"alpha must be a number ≥ 0, got {Alpha}");
        if (!(LearningRate > 0)) throw new LwfInputException($"the forgetting learning rate must be positive, got {LearningRate}");
        if (!(FisherProtect >= 0)) throw new LwfInputException($"fisherProtect must be ≥ 0, got {FisherProtect}");
    }
}

/// <summary>The forgetting losses of DESIGN.md §1.5 on a batch of D_U.</summary>
public static class ForgettingLoss
{
    /// <summary>Returns (loss to minimise, the batch's mean token NLL ℓ).</summary>
    public static (Tensor Loss, Tensor Nll) Compute(Tensor logits, TokenBatch batch, ForgettingLossKind kind, double alpha)
    {
        long t = logits.shape[1], v = logits.shape[2];
        var mask = batch.LossMask.narrow(1, 1, t - 1).to(ScalarType.Float32);               // [B,T-1]
        var logProbs = logits.narrow(1, 0, t - 1).log_softmax(-1);                           // [B,T-1,V]
        var targets = batch.InputIds.narrow(1, 1, t - 1).unsqueeze(-1);
        var nll = -logProbs.gather(-1, targets).squeeze(-1);                                 // [B,T-1]
        var tokens = mask.sum().clamp_min(1);
        var meanNll = (nll * mask).sum() / tokens;
        if (kind == ForgettingLossKind.Ga) return (-alpha * meanNll, meanNll);
        var entropy = -(logProbs.exp() * logProbs).sum(-1);                                 // [B,T-1]
        var gap = Math.Log(v) - entropy;
        return (alpha * ((0.5 * gap * gap) * mask).sum() / tokens, meanNll);
    }
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
        if (_options.FisherProtect > 0 && _damping is null)
            throw new InvalidOperationException("Fisher protection is on but no Fisher was given (UseFisher)");
        using var scope = NewDisposeScope();
        _model.train();
        _optimizer.zero_grad();
        using var batch = TokenBatch.Create(records, _padId, _model.Device);
        var logits = _model.Forward(batch.InputIds, batch.AttentionMask);
        var (loss, nll) = ForgettingLoss.Compute(logits, batch, _options.Loss, _options.Alpha);
        loss.backward();
        if (_options.MaxGradNorm > 0) nn.utils.clip_grad_norm_(_parameters, _options.MaxGradNorm);
        var before = _damping is null ? null : _model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());
        _optimizer.step();
        if (before is not null)
        {
            using var _ = no_grad();
            foreach (var (name, p) in _model.named_parameters())
                p.copy_(before[name] + _damping![name].to(p.dtype) * (p - before[name]));
        }
        _model.eval();
        StepsTaken++;
        return nll.item<float>();
    }

    public void Dispose()
    {
        UseFisher(null);
        _optimizer.Dispose();
    }
}
