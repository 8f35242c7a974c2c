using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>Additive attention masks: 0 where a query may look, the dtype's minimum where it may not.</summary>
internal static class AttentionBias
{
    /// <summary>
    /// Query i (absolute position past+i) sees key j when j ≤ past+i and key j is not padding.
    /// The minimum (not −∞) keeps fully masked rows (left padding) finite: their output is ignored anyway.
    /// Returns null when a plain causal mask will do.
    /// </summary>
    public static Tensor? Build(Tensor? attentionMask, long batch, long length, long past, Device device, ScalarType dtype)
    {
        if (attentionMask is null && past == 0) return null;
        long total = past + length;
        var query = KeptScalars.Range(past, total, device).view(length, 1);
        var key = KeptScalars.Range(0, total, device).view(1, total);
        var allowed = key.le(query).view(1, 1, length, total);
        if (attentionMask is not null)
        {
            if (attentionMask.shape[0] != batch || attentionMask.shape[1] != total)
                throw new LwfInputException($"attention_mask must be [{batch}, {total}], got [{string.Join(",", attentionMask.shape)}]");
            allowed = allowed.logical_and(attentionMask.to(ScalarType.Bool).view(batch, 1, 1, total));
        }
        using Scalar min = dtype == ScalarType.BFloat16 ? -3.3895313892515355e38 : dtype == ScalarType.Float16 ? -65504.0 : float.MinValue;
        return zeros(allowed.shape, dtype: dtype, device: device).masked_fill(allowed.logical_not(), min);
    }
}
