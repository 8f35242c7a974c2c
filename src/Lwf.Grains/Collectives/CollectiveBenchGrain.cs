using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Grains.Security;
using Lwf.Grains.Transport;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace Lwf.Grains.Collectives;

/// <summary>
/// `lwf bench allreduce`: the jobs' <see cref="RingCollective"/> on one float32 tensor, over the silos' data planes.
/// Placed like shards, so "bench/0" … "bench/N−1" land on N different silos.
/// </summary>
[ShardSpreadPlacement]
public sealed class CollectiveBenchGrain(DataPlane plane, IOptions<LwfSiloOptions> options) : Grain, ICollectiveBenchGrain
{
    private Tensor? _buffer;

    /// <summary>The largest tensor the benchmark all-reduces, in MiB.</summary>
    public const int MaxMiB = 4096;

    public ValueTask<string> Prepare(int mib)
    {
        RequireOperator();
        if (mib is < 1 or > MaxMiB) throw new Lwf.Core.LwfInputException($"--mib must be within 1..{MaxMiB}, got {mib}");
        _buffer?.Dispose();
        _buffer = full([(long)mib << 18], Lwf.Core.Models.KeptScalars.One, ScalarType.Float32); // mib MiB of float32 ones: the sum is the world size, exactly
        return new(plane.Endpoint);
    }

    /// <summary>The benchmark takes memory and the data plane from every silo's jobs: the cluster's operators' to run.</summary>
    private static void RequireOperator()
    {
        if (ClientIdentity.Caller is { IsOperator: false } caller)
            throw new UnauthorizedAccessException($"lwf bench allreduce is for the cluster's operators; {caller.Subject} is a tenant");
    }

    public async ValueTask<double[]> Run(RingLayout ring, string operationId, int repeats)
    {
        RequireOperator();
        var buffer = _buffer ?? throw new InvalidOperationException("the benchmark is not prepared");
        var seconds = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            using (no_grad()) buffer.fill_(Lwf.Core.Models.KeptScalars.One);
            var collective = new RingCollective(plane, ring, FrameKeys.Collective("bench", ring.Epoch, $"{operationId}.{i}"),
                TimeSpan.FromSeconds(options.Value.CollectiveTimeoutSeconds), options.Value.BucketMiB << 20, CancellationToken.None);
            var clock = Stopwatch.StartNew();
            await Task.Run(() => collective.AllReduceAsync([buffer], [], CancellationToken.None));
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        // Every element must be the world size: a check that the bytes really went round.
        double min = buffer.min().item<float>(), max = buffer.max().item<float>();
        if (min != ring.WorldSize || max != ring.WorldSize)
            throw new InvalidOperationException($"all-reduce of ones over {ring.WorldSize} silos gave values in [{min}, {max}]");
        return [.. seconds];
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        _buffer?.Dispose();
        _buffer = null;
        return base.OnDeactivateAsync(reason, cancellationToken);
    }
}
