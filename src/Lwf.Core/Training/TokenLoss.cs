using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>Token negative log-likelihood, kept per record so every caller can normalise its own way.</summary>
public static class TokenLoss
{
    /// <summary>
    /// logits [B,T,V] (float32), ids [B,T], targetMask [B,T] (true where token t is a loss target, predicted
    /// from logits at t-1). Returns the NLL summed per row [B] and the count of loss tokens per row [B].
    /// </summary>
    public static (Tensor Sum, Tensor Count) PerRow(Tensor logits, Tensor ids, Tensor targetMask)
    {
        long b = logits.shape[0], t = logits.shape[1], v = logits.shape[2];
        var predictions = logits.narrow(1, 0, t - 1).reshape(-1, v);          // [B(T-1), V]
        var targets = ids.narrow(1, 1, t - 1).reshape(-1);                     // [B(T-1)]
        var mask = targetMask.narrow(1, 1, t - 1).to(ScalarType.Float32);      // [B, T-1]
        var nll = nn.functional.cross_entropy(predictions, targets, reduction: nn.Reduction.None).view(b, t - 1);
        return ((nll * mask).sum(1), mask.sum(1));
    }

    /// <summary>Mean token NLL of each row [B] (the per-record loss ℓ of DESIGN.md §1).</summary>
    public static Tensor PerRowMean(Tensor logits, Tensor ids, Tensor targetMask)
    {
        var (sum, count) = PerRow(logits, ids, targetMask);
        return sum / count.clamp_min(KeptScalars.One);
    }
}
