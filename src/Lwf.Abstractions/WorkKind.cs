namespace Lwf.Abstractions;

/// <summary>The kinds of work the shards add into their silo's pending sums.</summary>
public enum WorkKind
{
    /// <summary>Σ over records of ∇(Σ token NLL), with ΣNLL and the token counts.</summary>
    LearningGradient,
    /// <summary>Σ g⊙g and Σ g over records, one record at a time, with the count.</summary>
    Fisher,
    /// <summary>Σ over D_U samples of ∇ of the forgetting loss's numerator, with the token count.</summary>
    ForgettingGradient,
}
