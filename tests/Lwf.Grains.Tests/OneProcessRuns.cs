using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Lwf.Core.Jobs;
using Lwf.Core.Reports;

namespace Lwf.Grains.Tests;

/// <summary>
/// The one-process reference runs the cluster tests compare with, each run once per test assembly and shared: a run is
/// deterministic, so a job file's text names its outcome (CI runs every class of this assembly one after the other,
/// and the tiny job alone took 20 to 40 s of it, three times for the same file).
/// </summary>
internal static class OneProcessRuns
{
    private static readonly ConcurrentDictionary<string, Lazy<(string Dir, LwfReport Report)>> Runs = new();

    /// <summary>The output folder and report of <c>lwf train</c> on <paramref name="jobFile"/>; callers only read the folder.</summary>
    public static (string Dir, LwfReport Report) Of(string jobFile)
    {
        string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(File.ReadAllText(jobFile))));
        return Runs.GetOrAdd(key, _ => new(() =>
        {
            string dir = Repo.NewTempDir();
            return (dir, new LwfJobRunner(JobSpec.Load(jobFile)).Run(dir));
        })).Value;
    }
}
