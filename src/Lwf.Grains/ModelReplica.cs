using System.Collections.Concurrent;
using Lwf.Abstractions;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static TorchSharp.torch;

namespace Lwf.Grains;

/// <summary>
/// A job's model on this silo's device, shared by all of the silo's shards of that job. It pulls the
/// trainer's weights (and Fisher) once per silo per version, and serialises the shards' torch work
/// (they would otherwise fight over one set of .grad buffers).
/// </summary>
public sealed partial class ModelReplica : IDisposable
{
    private readonly IGrainFactory _grains;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _sync = new(1, 1);

    private readonly Telemetry.LwfMetrics _metrics;

    internal ModelReplica(string jobId, JobSpec spec, Device device, IGrainFactory grains, Telemetry.LwfMetrics metrics, ILogger logger)
    {
        _metrics = metrics;
        JobId = jobId;
        Spec = spec;
        _grains = grains;
        _logger = logger;
        Model = PretrainedModel.Load(spec.Model, device, initSeed: spec.Seed);
        Tokenizer = TextTokenizer.Load(spec.Model, Model.Config);
        Encoder = new RecordEncoder(Tokenizer, Model.Config, spec.MaxLength);
        PadId = Model.Config.PaddingId;
    }

    public string JobId { get; }
    public JobSpec Spec { get; }
    public CausalLM Model { get; }
    public TextTokenizer? Tokenizer { get; }
    public RecordEncoder Encoder { get; }
    public long PadId { get; }
    public long Version { get; private set; } = -1;
    public long FisherVersion { get; private set; }
    public FisherEstimate? Fisher { get; private set; }

    /// <summary>One shard's torch work at a time; holders run it with <see cref="Task.Run(Action)"/>, off the Orleans scheduler.</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    public long BytesPulled { get; private set; }

    public async Task EnsureWeightsAsync(long version)
    {
        if (Version == version) return;
        await _sync.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (Version == version) return;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var trainer = _grains.GetGrain<ITrainerGrain>(JobId);
            var manifest = await trainer.GetWeights(version);
            var packed = await PackedTensors.FetchAsync(manifest, chunk => trainer.GetWeightChunk(version, chunk).AsTask());
            await Task.Run(() =>
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var parameters = Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
                foreach (var entry in manifest.Tensors) parameters[entry.Name].copy_(packed.Read(entry));
                packed.Release();
            });
            BytesPulled += manifest.TotalBytes;
            _metrics.BytesReceived(manifest.TotalBytes);
            _metrics.ReplicaSynced(clock.Elapsed.TotalSeconds);
            Version = version;
            LogPulled(_logger, JobId, version, manifest.TotalBytes);
        }
        finally
        {
            _sync.Release();
        }
    }

    public async Task EnsureFisherAsync(long fisherVersion)
    {
        if (fisherVersion == 0 || FisherVersion == fisherVersion) return;
        await _sync.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            if (FisherVersion == fisherVersion) return;
            var trainer = _grains.GetGrain<ITrainerGrain>(JobId);
            var manifest = await trainer.GetFisher(fisherVersion);
            var packed = await PackedTensors.FetchAsync(manifest, chunk => trainer.GetFisherChunk(fisherVersion, chunk).AsTask());
            Fisher?.Dispose();
            Fisher = await Task.Run(() => FisherTransport.Unpack(packed, Model));
            packed.Release();
            BytesPulled += manifest.TotalBytes;
            _metrics.BytesReceived(manifest.TotalBytes);
            FisherVersion = fisherVersion;
        }
        finally
        {
            _sync.Release();
        }
    }

    public bool IsDisposed { get; private set; }

    /// <summary>
    /// Frees the model once no shard's torch work and no weight copy is running (the silo is stopping:
    /// freeing native memory under a running op would crash the process). Work that waited for the gates
    /// then finds the replica disposed; work that never ends within a minute keeps the memory rather than crash.
    /// </summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        if (!_sync.Wait(TimeSpan.FromMinutes(1))) return;
        if (!Gate.Wait(TimeSpan.FromMinutes(1))) return;
        IsDisposed = true;
        Fisher?.Dispose();
        Model.Dispose();
        Gate.Release();
        _sync.Release();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId}: pulled weights version {Version} ({Bytes} bytes)")]
    private static partial void LogPulled(ILogger logger, string jobId, long version, long bytes);
}

/// <summary>
/// The silo's replicas, one per job (this silo has one device), shared by the job's shards on this silo. A
/// replica lives while a shard holds it: the job's last shard here letting go (the job ended, or the shard
/// was deactivated) frees its weights, so a long-lived silo does not keep a model per job it ever ran.
/// </summary>
public sealed class ModelReplicas(IGrainFactory grains, IOptions<LwfSiloOptions> options, Telemetry.LwfMetrics metrics, ILogger<ModelReplica> logger) : IDisposable
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (Lazy<ModelReplica> Replica, HashSet<string> Holders)> _replicas = [];

    public ModelReplica Get(string jobId, JobSpec spec, string holder)
    {
        Lazy<ModelReplica> replica;
        lock (_gate)
        {
            if (!_replicas.TryGetValue(jobId, out var entry))
                _replicas[jobId] = entry = (new Lazy<ModelReplica>(() => new ModelReplica(jobId, spec, Devices.Resolve(options.Value.Device), grains, metrics, logger)), []);
            entry.Holders.Add(holder);
            replica = entry.Replica;
        }
        return replica.Value;
    }

    public int Count
    {
        get { lock (_gate) return _replicas.Count; }
    }

    public long BytesPulled
    {
        get { lock (_gate) return _replicas.Values.Where(r => r.Replica.IsValueCreated).Sum(r => r.Replica.Value.BytesPulled); }
    }

    /// <summary>The holder lets go of the job's replica; the last one frees it.</summary>
    public void Release(string jobId, string holder)
    {
        Lazy<ModelReplica>? freed = null;
        lock (_gate)
        {
            if (_replicas.TryGetValue(jobId, out var entry) && entry.Holders.Remove(holder) && entry.Holders.Count == 0)
            {
                _replicas.Remove(jobId);
                freed = entry.Replica;
            }
        }
        if (freed is { IsValueCreated: true }) freed.Value.Dispose(); // waits for torch work still running on it
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

/// <summary>F and gL as packed tensors "fisher.NAME" / "grad_mean.NAME" (the `lwf fisher` file's names).</summary>
public static class FisherTransport
{
    public static PackedTensors Pack(FisherEstimate fisher) =>
        PackedTensors.Pack(fisher.Names.Select(n => ("fisher." + n, fisher.Fisher(n)))
            .Concat(fisher.Names.Select(n => ("grad_mean." + n, fisher.GradMean(n)))),
            ScalarType.Float32, new Dictionary<string, double> { ["count"] = fisher.Count });

    public static FisherEstimate Unpack(PackedTensors packed, CausalLM model)
    {
        var entries = packed.Manifest.Tensors.ToDictionary(e => e.Name);
        var names = model.named_parameters().Select(p => p.name).ToList();
        var device = model.Device;
        var f = names.ToDictionary(n => n, n => packed.Read(entries["fisher." + n]).to(device).DetachFromDisposeScope());
        var g = names.ToDictionary(n => n, n => packed.Read(entries["grad_mean." + n]).to(device).DetachFromDisposeScope());
        return new FisherEstimate(names, f, g, (long)packed.Manifest.Scalars["count"]);
    }
}
