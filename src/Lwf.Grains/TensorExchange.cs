using System.Collections.Concurrent;
using Lwf.Abstractions;
using Microsoft.Extensions.Options;

namespace Lwf.Grains;

/// <summary>
/// The silo's bulk data plane: packed tensors published under a key are served on the silo's data-plane
/// port (<see cref="TensorWire"/>) to the other silos, and their manifests carry tcp://HOST:PORT/KEY.
/// Orleans moves the small messages (plans, manifests); the megabytes go over plain sockets, faster than
/// the same bytes as grain-call responses (README, "Transport"). Without
/// <see cref="LwfSiloOptions.DataPlanePort"/> nothing is published and chunks travel as grain calls.
/// </summary>
public sealed class TensorExchange(IOptions<LwfSiloOptions> options, string advertisedHost, Telemetry.LwfMetrics? metrics = null)
{
    /// <summary>For the silo's container: the data plane is advertised at the silo's own address unless configured.</summary>
    public TensorExchange(IOptions<LwfSiloOptions> options, Orleans.Runtime.ILocalSiloDetails silo, Telemetry.LwfMetrics metrics)
        : this(options, silo.SiloAddress.Endpoint.Address.ToString(), metrics) { }

    private readonly ConcurrentDictionary<string, PackedTensors> _served = new();

    /// <summary>Serves <paramref name="packed"/> under <paramref name="key"/> (replacing what was there) and returns its manifest with the URL.</summary>
    public TensorManifest Publish(string key, PackedTensors packed)
    {
        int port = options.Value.DataPlanePort;
        if (port == 0) return packed.Manifest;
        _served[key] = packed;
        string host = options.Value.DataPlaneHost is { Length: > 0 } h ? h : advertisedHost;
        return packed.Manifest with { Url = $"tcp://{host}:{port}/{Uri.EscapeDataString(key)}" };
    }

    public void Withdraw(string key) => _served.TryRemove(key, out _);

    public bool TryGetChunk(string key, int chunk, out byte[] bytes)
    {
        bytes = [];
        if (!_served.TryGetValue(key, out var packed) || chunk < 0 || chunk >= packed.Chunks.Length) return false;
        bytes = packed.Chunks[chunk];
        metrics?.BytesSent(bytes.Length);
        return true;
    }

    public int Count => _served.Count;
}
