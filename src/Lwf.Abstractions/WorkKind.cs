namespace Lwf.Abstractions;

/// <summary>The kinds of work the shards add into their silo's pending sums.</summary>
public enum WorkKind
{
    /// <summary>
    /// A learning step: Σ over learning records of ∇(Σ token NLL) plus Σ over its forgetting records of ∇ of their
    /// weighted terms (one loss mean, one optimiser), with the NLL sums and token counts.
    /// </summary>
    LearningGradient,
    /// <summary>Σ g⊙g and Σ g over records, one record at a time, with the count.</summary>
    Fisher,
}
