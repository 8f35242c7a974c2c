namespace Lwf.Core.Forgetting;

/// <summary>What a forgetting record adds to its step's loss numerator (DESIGN.md §1.5), before the step divides by its loss tokens.</summary>
public enum ForgettingLossKind
{
    /// <summary>Gradient ascent: −α·Σ_t NLL_t over the record's response tokens.</summary>
    Ga,
    /// <summary>Maximum entropy: α·Σ_t ½(log|V| − H(p_t))² over the response tokens (pushes each prediction towards uniform).</summary>
    Me,
    /// <summary>
    /// Negative Preference Optimization (Zhang et al. 2024): α·(2/β)·log(1 + (π_θ(y|x)/π_ref(y|x))^β), with π_ref the
    /// base model's likelihood of the response, stored with the sample at self-generation. Bounded below by 0; its
    /// gradient is GA's times 2σ(β·log π_θ/π_ref), which fades once the response is unlikely.
    /// </summary>
    Npo,
}
