using System.Collections.Concurrent;

namespace Lwf.Grains.Replicas;

/// <summary>
/// The process's one thread for replica compute. libtorch parallelises each op over a team of OpenMP threads that
/// belongs to the calling thread; torch calls hopping between thread-pool threads left several teams spinning on
/// the same cores, and an embedded cluster trained at half the speed of `lwf train`, whose torch calls all come
/// from one thread. Work runs here one item at a time, in arrival order.
/// <para>
/// A command that hosts silos hands its main thread over with <see cref="Serve{T}"/>: glibc serves allocations
/// larger than an arena heap (64 MiB) from the main thread's heap only, and from any other thread maps and unmaps
/// them, so every step re-faulted its gigabytes of gradients page by page (`lwf run --silos 1` stepped at 0.6× of
/// `lwf train` until torch work moved to the main thread). Where nothing serves (tests), a thread of its own does.
/// </para>
/// </summary>
public static class TorchThread
{
    private static readonly BlockingCollection<Action> Work = new();
    private static readonly object Gate = new();
    private static bool _served;

    /// <summary>
    /// The calling thread (a command's main thread, which would only wait) does the process's torch work until
    /// <paramref name="until"/> completes, and returns its result.
    /// </summary>
    public static T Serve<T>(Task<T> until)
    {
        lock (Gate)
        {
            if (_served) return until.GetAwaiter().GetResult();
            _served = true;
        }
        until.ContinueWith(_ => Work.Add(() => { }), TaskScheduler.Default); // wakes the loop below
        try
        {
            while (!until.IsCompleted) Work.Take()();
        }
        finally
        {
            lock (Gate)
            {
                _served = false;
                if (Work.Count > 0) StartOwnThread();
            }
        }
        return until.GetAwaiter().GetResult();
    }

    public static Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
        });
        lock (Gate)
            if (!_served) StartOwnThread();
        return done.Task;
    }

    /// <summary>Serves the queue from a thread of its own from now on (under <see cref="Gate"/>).</summary>
    private static void StartOwnThread()
    {
        _served = true;
        new Thread(() => { foreach (var item in Work.GetConsumingEnumerable()) item(); })
        {
            IsBackground = true,
            Name = "lwf-torch",
        }.Start();
    }
}
