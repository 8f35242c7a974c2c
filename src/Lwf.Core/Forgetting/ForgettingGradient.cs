using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

/// <summary>
/// The forgetting records' part of a learning step's gradient (DESIGN.md §1.5). Each micro-batch adds ∇ of its
/// weighted numerator into the step's sums, beside the learning records' ∇ΣNLL, and its response tokens count in the
/// step's divisor like learning tokens: the step minimises (Σ_learning NLL + Σ_forgetting weighted terms) / (all loss
/// tokens), the authors' one batch mean with weight +1 for learning and −α (ga) or +α (me, npo) for forgetting.
/// </summary>
public static class ForgettingGradient
{
    /// <summary>Adds ∇(weighted numerator) over the micro-batches into <paramref name="sums"/>; their NLL goes to the forgetting totals.</summary>
    public static void AddTo(GradientSums sums, CausalLM model, IEnumerable<IReadOnlyList<ForgettingRecord>> microBatches, ForgettingLoss loss, long padId) =>
        sums.Add(model, microBatches, micro =>
        {
            using var scope = NewDisposeScope();
            using var batch = TokenBatch.Create(micro.Select(r => r.Record).ToList(), padId, model.Device);
            var (numerator, nll) = Numerator(model, batch, micro, loss);
            numerator.backward();
            return new GradientTotals(0, 0, batch.InputTokens, nll.item<float>(), batch.LossTokens);
        }, forgetting: true);

    /// <summary>The micro-batch's weighted numerator (what backward runs on) and its plain ΣNLL (for the report).</summary>
    public static (Tensor Numerator, Tensor Nll) Numerator(CausalLM model, TokenBatch batch, IReadOnlyList<ForgettingRecord> records, ForgettingLoss loss)
    {
        if (loss.Kind == ForgettingLossKind.Me)
        {
            var logits = model.Forward(batch.InputIds, batch.AttentionMask);
            long t = logits.shape[1], v = logits.shape[2];
            var mask = batch.LossMask.narrow(1, 1, t - 1).to(ScalarType.Float32);                      // [B,T-1]
            var logProbs = logits.narrow(1, 0, t - 1).to(ScalarType.Float32).log_softmax(-1);           // [B,T-1,V]
            var nll = -logProbs.gather(-1, batch.InputIds.narrow(1, 1, t - 1).unsqueeze(-1)).squeeze(-1);
            var entropy = -(logProbs.exp() * logProbs).sum(-1);
            using Scalar logV = Math.Log(v), half = 0.5, alpha = loss.Alpha;
            var gap = entropy.negative().Plus(logV);                                                    // log|V| − H
            return ((gap.mul(half) * gap * mask).sum().mul(alpha), (nll * mask).sum());
        }
        var (rowNll, _) = model.TokenNll(batch.InputIds, batch.AttentionMask, batch.LossMask);          // [B]
        var total = rowNll.sum();
        using Scalar weight = loss.Kind == ForgettingLossKind.Ga ? -loss.Alpha : loss.Alpha;
        if (loss.Kind == ForgettingLossKind.Ga) return (total.mul(weight), total);
        var reference = records.Select((r, i) => r.ReferenceLogLikelihood ?? throw new LwfInputException(
            $"npo needs each sample's reference log-likelihood from self-generation; sample {i} of this batch has none (self-generate again)")).ToArray();
        // log π_θ(y|x) − log π_ref(y|x) per record; (2/β)·softplus(β·ratio) = (2/β)·log(1 + (π_θ/π_ref)^β).
        var ratio = -rowNll - tensor(reference, ScalarType.Float64).to(ScalarType.Float32).to(rowNll.device);
        using Scalar beta = loss.NpoBeta, scale = 2 / loss.NpoBeta;
        var npo = KeptScalars.Softplus(ratio.mul(beta)).sum().mul(scale);
        return (npo.mul(weight), total);
    }
}
