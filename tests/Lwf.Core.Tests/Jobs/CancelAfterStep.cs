using Lwf.Core.Jobs;
using Lwf.Core.Training;

namespace Lwf.Core.Tests.Jobs;

/// <summary>Stops a run (as a crash would) once learning step <paramref name="step"/> is done.</summary>
public sealed class CancelAfterStep(int step, CancellationTokenSource stop) : IJobObserver
{
    public void StepCompleted(StepResult result)
    {
        if (result.Step == step) stop.Cancel();
    }
}
