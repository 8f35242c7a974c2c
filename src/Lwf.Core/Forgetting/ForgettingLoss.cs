namespace Lwf.Core.Forgetting;

/// <summary>
/// The loss a forgetting record carries inside a learning step: its kind, its weight α relative to the learning
/// records' +1, and NPO's β. α is a relative weight because every record of the step goes through one AdamW update.
/// </summary>
public sealed record ForgettingLoss
{
    /// <summary>
    /// α = 0.1: the middle of the paper authors' sweep (0.01–0.2); docs/results.md has the dose response at this scale.
    /// </summary>
    public const double DefaultAlpha = 0.1;

    /// <summary>
    /// NPO by default: gradient ascent is unbounded, and on the demo's pair (2026-12-06, seed 42, 120 steps) it took
    /// held-out perplexity to 47× vanilla's at α = 0.1 and 2.2× at α = 0.01, while NPO at α = 0.1 ended at 1.09× and
    /// me at 1.04× (docs/results.md has the grid).
    /// </summary>
    public const ForgettingLossKind DefaultKind = ForgettingLossKind.Npo;
    public const double DefaultNpoBeta = 0.1;

    public ForgettingLossKind Kind { get; init; } = DefaultKind;
    public double Alpha { get; init; } = DefaultAlpha;

    /// <summary>NPO's inverse temperature (its paper's default 0.1); unused by ga and me.</summary>
    public double NpoBeta { get; init; } = DefaultNpoBeta;

    public void Validate()
    {
        // α is the forgetting record's weight against a learning record's 1: far above 1, ascent outweighs learning.
        if (Alpha is not (>= 0 and <= 10)) throw new LwfInputException($"alpha must be in [0, 10], got {Alpha}");
        if (NpoBeta is not (> 0 and <= 100)) throw new LwfInputException($"npo_beta must be in (0, 100], got {NpoBeta}");
    }
}
