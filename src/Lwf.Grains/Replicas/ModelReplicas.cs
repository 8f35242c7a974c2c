using Lwf.Core.Jobs;
using Lwf.Core.Models;
using Lwf.Core.Replicas;
using Microsoft.Extensions.Options;

namespace Lwf.Grains.Replicas;

/// <summary>
/// The silo's replicas: exactly one per job (this silo has one device), shared by the job's shards on this silo.
/// A replica lives while a shard holds it: the job's last shard here letting go (the job ended, or the shard was
/// deactivated) frees it, so a long-lived silo keeps no model per job it ever ran.
/// </summary>
public sealed class ModelReplicas(IOptions<LwfSiloOptions> options) : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (Lazy<SiloReplica> Replica, HashSet<string> Holders)> _replicas = [];

    /// <summary>
    /// The job's replica, made on first use from the base model or <paramref name="resume"/>'s state. An existing one
    /// is kept as it is: the coordinator compares the replicas' positions when it forms a ring and brings a replica
    /// that is behind up to date from a peer.
    /// </summary>
    public SiloReplica Get(string jobId, JobSpec spec, ResumePoint? resume, string holder)
    {
        Lazy<SiloReplica> replica;
        lock (_gate)
        {
            if (!_replicas.TryGetValue(jobId, out var entry))
                _replicas[jobId] = entry = (new Lazy<SiloReplica>(() =>
                    new SiloReplica(TorchThread.RunAsync(() => new TrainingReplica(spec, Devices.Resolve(options.Value.Device), resume)
                    {
                        RunCompute = work => TorchThread.RunAsync(() => { work(); return 0; }),
                    }).GetAwaiter().GetResult())), []);
            entry.Holders.Add(holder);
            replica = entry.Replica;
        }
        return replica.Value;
    }

    /// <summary>The job's replica on this silo, if one is made.</summary>
    public SiloReplica? Find(string jobId)
    {
        lock (_gate)
            return _replicas.TryGetValue(jobId, out var entry) && entry.Replica.IsValueCreated ? entry.Replica.Value : null;
    }

    /// <summary>The replicas made so far, by job.</summary>
    public List<(string JobId, SiloReplica Replica)> All()
    {
        lock (_gate)
            return _replicas.Where(r => r.Value.Replica.IsValueCreated).Select(r => (r.Key, r.Value.Replica.Value)).ToList();
    }

    public int Count
    {
        get { lock (_gate) return _replicas.Count; }
    }

    /// <summary>The holder lets go of the job's replica; the last one frees it.</summary>
    public void Release(string jobId, string holder)
    {
        Lazy<SiloReplica>? freed = null;
        lock (_gate)
        {
            if (_replicas.TryGetValue(jobId, out var entry) && entry.Holders.Remove(holder) && entry.Holders.Count == 0)
            {
                _replicas.Remove(jobId);
                freed = entry.Replica;
            }
        }
        if (freed is { IsValueCreated: true })
        {
            freed.Value.Dispose(); // waits for torch work still running on it
            Lwf.Core.NativeMemory.GiveBack(); // a silo outlives its jobs: their memory goes back to the kernel
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var r in _replicas.Values.Where(r => r.Replica.IsValueCreated)) r.Replica.Value.Dispose();
            _replicas.Clear();
        }
    }
}
