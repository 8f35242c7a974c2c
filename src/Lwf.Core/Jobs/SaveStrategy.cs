namespace Lwf.Core.Jobs;

/// <summary>When checkpoints are written (transformers' save_strategy; "epoch" has no meaning in a job of max_steps).</summary>
public enum SaveStrategy
{
    /// <summary>None at all: the run cannot be resumed (a grid's short runs, which rerun whole).</summary>
    No,
    /// <summary>Every save_steps learning steps and at the end.</summary>
    Steps,
}
