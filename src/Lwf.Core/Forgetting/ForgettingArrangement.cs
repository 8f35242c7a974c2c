namespace Lwf.Core.Forgetting;

/// <summary>Where the forgetting records of D_U sit in the training stream (DESIGN.md §1.6).</summary>
public enum ForgettingArrangement
{
    /// <summary>One forgetting record after every k learning records, k = round(1/portion) (the default; the authors' "interpolation").</summary>
    Interleave,
    /// <summary>All of them first: the same number of forgetting records, carried by the first steps (the paper's ablation).</summary>
    Ahead,
    /// <summary>No forgetting: vanilla fine-tuning, bit-identical to α = 0.</summary>
    None,
}
