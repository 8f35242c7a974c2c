namespace Lwf.Cli;

/// <summary>
/// Calls from the console that outlive a silo's death. A killed silo stays in the membership table until the others
/// declare it dead (seconds), and until then a call routed to it (its grains, its part of the grain directory) fails
/// to connect; after that the grain is re-activated elsewhere and the same call answers. So the console waits, says
/// once on stderr that it does, and gives up (with the cluster's error) only after <see cref="Limit"/>.
/// </summary>
internal static class ClusterPatience
{
    /// <summary>How long a call waits for an unreachable part of the cluster to come back before it gives up.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A failure that a live cluster outgrows: a message to a dead silo, a call that timed out, a grain directory lookup
    /// the runtime gave up while membership changed (Polly's TimeoutRejectedException).
    /// </summary>
    public static bool IsTransient(Exception e) => e is OrleansException or TimeoutException or Polly.Timeout.TimeoutRejectedException;

    /// <summary>
    /// How long one attempt may take. A call already on its way to a silo as it died can go unanswered for the client's
    /// whole response timeout (minutes); the calls made here answer in milliseconds, so a slow one is given up and made again.
    /// </summary>
    public static readonly TimeSpan AttemptLimit = TimeSpan.FromSeconds(15);

    /// <summary>Runs <paramref name="call"/>, again every second while it fails transiently or hangs (up to <see cref="Limit"/>).</summary>
    public static async Task<T> CallAsync<T>(Func<ValueTask<T>> call, string whileWaiting, CancellationToken cancellation = default)
    {
        DateTime? since = null;
        while (true)
        {
            try
            {
                return await call().AsTask().WaitAsync(AttemptLimit, cancellation);
            }
            catch (Exception e) when (IsTransient(e))
            {
                if (since is null) Console.Error.WriteLine($"{whileWaiting} ({e.GetType().Name}); waiting");
                since ??= DateTime.UtcNow;
                if (DateTime.UtcNow - since > Limit) throw;
                await Task.Delay(TimeSpan.FromSeconds(1), cancellation);
            }
        }
    }
}
