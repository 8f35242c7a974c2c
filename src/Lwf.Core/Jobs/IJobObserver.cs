using Lwf.Core.Checkpoints;
using Lwf.Core.Reports;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// What a job's runner tells while it runs, to one observer (as the HF Trainer's callbacks, in one object): each
/// method does nothing unless the observer overrides it. The cluster's trainer publishes status and metrics from
/// it; `lwf train` draws the progress line.
/// </summary>
public interface IJobObserver
{
    /// <summary>A stage moved on.</summary>
    void Progressed(ProgressUpdate update) { }

    /// <summary>A line for the user beside the progress (one process): where a resumed run went on from.</summary>
    void Logged(string line) { }

    /// <summary>After every learning step.</summary>
    void StepCompleted(StepResult step) { }

    /// <summary>When the forgetting set is chosen (at the start and at every refresh): scores, size, Fisher statistics.</summary>
    void ForgettingSetChosen(ForgettingChoice choice) { }

    /// <summary>After every evaluation (before, during and after training).</summary>
    void Evaluated(EvalPoint point) { }

    /// <summary>After each checkpoint is whole on disk.</summary>
    void CheckpointSaved(Checkpoint checkpoint) { }
}
