using Lwf.Core.Forgetting;
using Lwf.Core.Replicas;
using Lwf.Core.Training;

namespace Lwf.Grains.Replicas;

/// <summary>
/// A job's replica on this silo (<see cref="TrainingReplica"/>: weights, both optimisers, F), shared by the job's
/// shards here. Their torch work takes turns (<see cref="OnTorchAsync{T}"/>: they would otherwise fight over one set
/// of .grad buffers), and a step's local sums wait here, under the operation's id, while the silo's shards add into
/// them one after another and the ring reduces them.
/// </summary>
public sealed class SiloReplica(TrainingReplica replica) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    private readonly object _pendingGate = new();
    private string? _operation;
    private GradientSums? _gradient;
    private FisherAccumulator? _fisher;
    private CancellationTokenSource? _abort;
    private string[] _involved = [];

    public TrainingReplica Training => replica;

    public bool IsDisposed { get; private set; }

    /// <summary>A reduced step waiting to be applied: its operation and totals.</summary>
    public (string Operation, GradientTotals Totals, int Records, int ForgetRecords)? Reduced { get; set; }

    /// <summary>Torch work on this replica, one at a time, on the process's torch thread (off the Orleans scheduler; replicas of one process take turns there).</summary>
    public async Task<T> OnTorchAsync<T>(Func<TrainingReplica, T> work)
    {
        await _gate.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return await TorchThread.RunAsync(() => work(replica));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Asynchronous work on the replica (a reduction: the buckets are its .grad), under the replica's turn but not the process's compute turn.</summary>
    public async Task<T> OnTorchAsync<T>(Func<TrainingReplica, Task<T>> work)
    {
        await _gate.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return await Task.Run(() => work(replica));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Starts an operation's local sums (replacing any left by an operation that failed); returns its abort token.
    /// <paramref name="involved"/>: the silos whose death aborts it (<see cref="AbortInvolving"/>).
    /// </summary>
    public CancellationToken Begin(string operation, Abstractions.WorkKind kind, string[] involved)
    {
        lock (_pendingGate)
        {
            DropPending();
            _operation = operation;
            _involved = involved;
            _abort = new CancellationTokenSource();
            Reduced = null;
            if (kind == Abstractions.WorkKind.Fisher) _fisher = replica.NewFisherSums();
            else _gradient = replica.NewGradientSums();
            return _abort.Token;
        }
    }

    public GradientSums Gradient(string operation)
    {
        lock (_pendingGate)
            return operation == _operation && _gradient is { } g ? g : throw new InvalidOperationException($"operation {operation} is not pending on this silo");
    }

    public FisherAccumulator FisherSums(string operation)
    {
        lock (_pendingGate)
            return operation == _operation && _fisher is { } f ? f : throw new InvalidOperationException($"operation {operation} is not pending on this silo");
    }

    /// <summary>The operation is over (reduced, or failed): its local sums are freed.</summary>
    public void End(string operation)
    {
        lock (_pendingGate)
            if (operation == _operation) DropPending();
    }

    /// <summary>A peer failed: the operation's collective ends at once.</summary>
    public void Abort(string operation)
    {
        lock (_pendingGate)
            if (operation == _operation) _abort?.Cancel();
    }

    /// <summary>Silos were declared dead: the operation in flight ends at once if one of them was in it; returns it, or null.</summary>
    public string? AbortInvolving(IReadOnlySet<string> dead)
    {
        lock (_pendingGate)
        {
            if (_operation is null || _abort is null || _abort.IsCancellationRequested || !_involved.Any(dead.Contains)) return null;
            _abort.Cancel();
            return _operation;
        }
    }

    private void DropPending()
    {
        _gradient?.Dispose();
        _fisher?.Dispose();
        _abort?.Dispose();
        _gradient = null;
        _fisher = null;
        _abort = null;
        _operation = null;
        _involved = [];
    }

    /// <summary>
    /// Frees the model once no torch work is running (the silo is stopping: freeing native memory under a running
    /// op would crash the process). Work that never ends within a minute keeps the memory rather than crash.
    /// </summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        if (!_gate.Wait(TimeSpan.FromMinutes(1))) return;
        IsDisposed = true;
        lock (_pendingGate) DropPending();
        replica.Dispose();
        _gate.Release();
    }
}
