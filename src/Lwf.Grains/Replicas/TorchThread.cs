using System.Collections.Concurrent;

namespace Lwf.Grains.Replicas;

/// <summary>
/// The process's one thread for replica compute. libtorch parallelises each op over a team of OpenMP threads that
/// belongs to the calling thread; torch calls hopping between thread-pool threads left several teams spinning on
/// the same cores, and an embedded cluster trained at half the speed of `lwf train`, whose torch calls all come
/// from one thread. Work runs here one item at a time, in arrival order.
/// </summary>
public static class TorchThread
{
    private static readonly BlockingCollection<Action> Work = new();

    static TorchThread()
    {
        var thread = new Thread(() => { foreach (var item in Work.GetConsumingEnumerable()) item(); })
        {
            IsBackground = true,
            Name = "lwf-torch",
        };
        thread.Start();
    }

    public static Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Work.Add(() =>
        {
            try { done.SetResult(work()); }
            catch (Exception e) { done.SetException(e); }
        });
        return done.Task;
    }
}
