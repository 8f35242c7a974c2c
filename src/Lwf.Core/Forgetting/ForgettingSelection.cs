namespace Lwf.Core.Forgetting;

/// <summary>How many of the ranked samples form the forgetting set D_U.</summary>
public sealed record ForgettingSelection(double? Fraction = null, int? TopK = null, double? Threshold = null)
{
    public void Validate()
    {
        int given = (Fraction is null ? 0 : 1) + (TopK is null ? 0 : 1) + (Threshold is null ? 0 : 1);
        if (given != 1) throw new LwfInputException("give exactly one of forget_fraction, forget_top_k and forget_threshold");
        if (Fraction is { } f && f is not (> 0 and <= 1)) throw new LwfInputException($"forget_fraction must be in (0, 1], got {f}");
        if (TopK is { } k && k < 1) throw new LwfInputException($"forget_top_k must be at least 1, got {k}");
        if (Threshold is { } t && !double.IsFinite(t)) throw new LwfInputException($"forget_threshold must be a finite number, got {t}");
    }

    /// <summary>Indices of the chosen samples, highest score first (ties: lower index first).</summary>
    public int[] Choose(IReadOnlyList<double> scores)
    {
        Validate();
        var ranked = Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
        if (Threshold is { } t) return ranked.Where(i => scores[i] > t).ToArray();
        int k = TopK ?? (int)Math.Ceiling(Fraction!.Value * scores.Count);
        return ranked.Take(Math.Min(k, scores.Count)).ToArray();
    }
}
