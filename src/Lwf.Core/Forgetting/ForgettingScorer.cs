namespace Lwf.Core.Forgetting;

/// <summary>How self-generated samples are ranked for forgetting (highest score is forgotten first).</summary>
public enum ForgettingScorer
{
    /// <summary>FC_i = Σ_j F_j·g_ij·(g_ij − 2·gL_j) (DESIGN.md §1.3).</summary>
    Fisher,
    /// <summary>Mean token log-probability of the response: the model's own confidence in it.</summary>
    Likelihood,
    /// <summary>Uniform random scores (seeded): an ablation.</summary>
    Random,
    /// <summary>−FC: lowest forgetting confidence first.</summary>
    Inverse,
}
