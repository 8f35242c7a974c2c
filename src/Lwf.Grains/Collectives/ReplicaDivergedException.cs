namespace Lwf.Grains.Collectives;

/// <summary>The replicas' weights (or a step's reduced totals) differ: the job fails, naming the step and the replicas.</summary>
[GenerateSerializer]
public sealed class ReplicaDivergedException : Exception
{
    public ReplicaDivergedException() { }
    public ReplicaDivergedException(string message) : base(message) { }
}
