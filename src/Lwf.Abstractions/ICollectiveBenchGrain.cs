namespace Lwf.Abstractions;

/// <summary>`lwf bench allreduce`: one per silo ("bench/RANK"); runs the jobs' ring all-reduce on a float32 buffer.</summary>
[ClientApi]
public interface ICollectiveBenchGrain : IGrainWithStringKey
{
    /// <summary>Makes a buffer of this many MiB; returns the silo's data-plane endpoint.</summary>
    ValueTask<string> Prepare(int mib);

    /// <summary>All-reduces the buffer <paramref name="repeats"/> times over the ring; returns each run's seconds and the first element of the sum.</summary>
    ValueTask<double[]> Run(RingLayout ring, string operationId, int repeats);
}
