using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Lwf.Grains.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lwf.Grains.Transport;

/// <summary>
/// The silo's data plane: plain TCP between silos for the collective's bytes, which never travel as grain calls.
/// A frame is [int32 key length][key, UTF-8][int64 payload length][payload]; a sender keeps one connection per
/// peer and writes frames in order; the receiver parks each payload under its key until the collective takes it
/// (<see cref="ReceiveAsync"/>). Keys name the job, the ring's epoch, the operation, the bucket and the ring step,
/// so a frame can only be taken by the step it was sent for. Bounded: keys ≤ 1 KiB, payloads ≤ 256 MiB.
/// With <paramref name="certificates"/> (the default in a cluster) every connection is mutual TLS: a peer that holds no
/// certificate of the cluster's authority gets no frame in and no byte out.
/// </summary>
public sealed partial class DataPlane(IOptions<LwfSiloOptions> options, Telemetry.LwfMetrics metrics, ILogger<DataPlane> logger,
    ClusterCertificates? certificates = null)
    : IHostedService, IDisposable
{
    public const int MaxKeyBytes = 1024;
    public const long MaxPayloadBytes = 256L << 20;

    // The data planes of this process by endpoint: silos embedded in one process (`lwf run`) hand frames to each
    // other through memory, as NCCL's shared-memory transport does within a node, instead of through loopback TCP.
    private static readonly ConcurrentDictionary<string, DataPlane> InProcess = new();

    private readonly ConcurrentDictionary<string, TaskCompletionSource<Payload>> _parked = new();
    private readonly ConcurrentDictionary<string, DateTime> _discarded = new();
    private readonly ConcurrentDictionary<string, PeerConnection> _peers = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;

    /// <summary>host:port other silos reach this one at (known once the host has started).</summary>
    public string Endpoint { get; private set; } = "";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        string silo = AdvertisedHost ?? IPAddress.Loopback.ToString();
        string host = o.DataPlaneHost is { Length: > 0 } h ? h : silo;
        // Bind where the silo is told, never every interface: the data-plane host when it is an address, else the
        // silo's own address (loopback for localhost clustering); a host name is only what peers are told to dial.
        var bindTo = IPAddress.TryParse(host, out var address) ? address : IPAddress.TryParse(silo, out var own) ? own : IPAddress.Loopback;
        _listener = new Socket(bindTo.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(bindTo, o.DataPlanePort));
        _listener.Listen(64);
        int port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        Endpoint = $"{host}:{port}";
        InProcess[Endpoint] = this;
        LogListening(logger, Endpoint);
        _ = Task.Run(AcceptLoop);
        return Task.CompletedTask;
    }

    /// <summary>The silo's own address (set by the host: loopback for localhost clustering): bound, and advertised unless Lwf:DataPlaneHost names another.</summary>
    public string? AdvertisedHost { get; set; }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (_disposed == 1) return Task.CompletedTask;
        InProcess.TryRemove(new KeyValuePair<string, DataPlane>(Endpoint, this));
        _stopping.Cancel();
        _listener?.Dispose();
        foreach (var peer in _peers.Values) peer.Dispose();
        return Task.CompletedTask;
    }

    private int _connections;

    /// <summary>Connections being served now.</summary>
    public int Connections => Volatile.Read(ref _connections);

    // Connections that have not yet sent a whole frame header, by their order of arrival. A peer of the ring sends its
    // first frame as soon as it connects; a stranger that connects and waits is the one that makes room at the cap.
    private readonly ConcurrentDictionary<Socket, long> _unproven = new();
    private long _arrivals;

    /// <summary>
    /// At the cap: closes the connection that has waited longest without a whole frame header, so that idle strangers can
    /// never keep the ring's peers out (refusing the newcomer would). False when every connection has proved itself.
    /// </summary>
    private bool EvictOldestUnproven()
    {
        foreach (var socket in _unproven.OrderBy(p => p.Value).Select(p => p.Key))
        {
            if (!_unproven.TryRemove(socket, out _)) continue;
            try { socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            socket.Dispose(); // its ServeAsync ends and frees the slot
            return true;
        }
        return false;
    }

    private async Task AcceptLoop()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener!.AcceptAsync(_stopping.Token); }
            catch (Exception) when (_stopping.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                // A failed accept (too many open files, a reset) is logged and survived: the silo goes on.
                LogAcceptFailed(logger, e.Message);
                try { await Task.Delay(100, _stopping.Token); } catch (OperationCanceledException) { return; }
                continue;
            }
            if (Interlocked.Increment(ref _connections) > options.Value.DataPlaneMaxConnections)
            {
                if (EvictOldestUnproven()) LogEvicted(logger, options.Value.DataPlaneMaxConnections);
                else
                {
                    Interlocked.Decrement(ref _connections);
                    LogRefused(logger, options.Value.DataPlaneMaxConnections);
                    socket.Dispose();
                    continue;
                }
            }
            _unproven[socket] = Interlocked.Increment(ref _arrivals);
            socket.NoDelay = true;
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    /// <summary>
    /// Reads frames from one peer until it closes the connection. The first frame must come within the read timeout,
    /// and every frame, once its first byte is in, must be whole within it; between frames a peer may be silent for long
    /// (a ring's connection lives across steps).
    /// </summary>
    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var header = new byte[4];
        var length = new byte[8];
        var timeout = TimeSpan.FromSeconds(options.Value.DataPlaneReadTimeoutSeconds);
        bool first = true;
        Stream? stream = null;
        try
        {
            // Inside the try: a connection evicted before it is served has a closed socket, and the stream refuses it.
            stream = new NetworkStream(socket, ownsSocket: false);
            if (certificates is not null)
            {
                // The handshake comes first and within the read timeout; the server says nothing before the peer's hello.
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = tls;
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                handshake.CancelAfter(timeout);
                await tls.AuthenticateAsServerAsync(certificates.ServerOptions(), handshake.Token);
            }
            while (!_stopping.IsCancellationRequested)
            {
                using var frame = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                if (first) frame.CancelAfter(timeout);
                if (!await ReceiveExactlyAsync(stream, header.AsMemory(0, 1), endOk: true, frame.Token)) return;
                frame.CancelAfter(timeout);
                await ReceiveExactlyAsync(stream, header.AsMemory(1), cancellation: frame.Token);
                int keyLength = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (keyLength is <= 0 or > MaxKeyBytes) { LogBadFrame(logger, $"key length {keyLength}"); return; }
                var keyBytes = new byte[keyLength];
                await ReceiveExactlyAsync(stream, keyBytes, cancellation: frame.Token);
                await ReceiveExactlyAsync(stream, length, cancellation: frame.Token);
                long payloadLength = BinaryPrimitives.ReadInt64LittleEndian(length);
                if (payloadLength is < 0 or > MaxPayloadBytes) { LogBadFrame(logger, $"payload length {payloadLength}"); return; }
                // A whole, valid header: a peer in the middle of its first (maybe 256 MiB) frame is no longer the one
                // that makes room at the cap; a stranger that stalls now meets the read timeout.
                if (first) _unproven.TryRemove(socket, out long _);
                var buffer = ArrayPool<byte>.Shared.Rent((int)payloadLength);
                try
                {
                    await ReceiveExactlyAsync(stream, buffer.AsMemory(0, (int)payloadLength), cancellation: frame.Token);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }
                metrics.BytesReceived(payloadLength + 12 + keyLength);
                first = false;
                Deliver(Encoding.UTF8.GetString(keyBytes), new Payload(buffer, (int)payloadLength));
            }
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            LogBadFrame(logger, $"no whole frame within {timeout.TotalSeconds:F0} s");
        }
        catch (AuthenticationException e)
        {
            LogHandshakeRefused(logger, socket.RemoteEndPoint?.ToString() ?? "?", e.Message);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException) { }
        finally
        {
            if (stream is not null) await stream.DisposeAsync();
            _unproven.TryRemove(socket, out long _);
            Interlocked.Decrement(ref _connections);
        }
    }

    private void Deliver(string key, Payload payload)
    {
        if (IsDiscarded(key))
        {
            // A frame of an operation this silo aborted: a late peer's (it hung past its death being declared, then
            // woke and sent what it had). Refused, so that nothing of a fenced-off silo enters a live ring.
            payload.Return();
            metrics.FrameRefused();
            return;
        }
        var slot = _parked.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!slot.TrySetResult(payload)) payload.Return(); // a duplicate key: the first one stands
    }

    /// <summary>Waits for the frame sent under <paramref name="key"/>; the caller returns the payload (<see cref="Payload.Return"/>).</summary>
    public async Task<Payload> ReceiveAsync(string key, TimeSpan timeout, CancellationToken cancellation)
    {
        var slot = _parked.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            return await slot.Task.WaitAsync(timeout, cancellation).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"data plane: nothing arrived for {key} within {timeout.TotalSeconds:F0} s (a peer of the ring stopped answering)");
        }
        finally
        {
            _parked.TryRemove(key, out var _);
        }
    }

    /// <summary>Sends one frame to <paramref name="endpoint"/> (host:port), on that peer's connection.</summary>
    public async Task SendAsync(string endpoint, string key, ReadOnlyMemory<byte> payload, CancellationToken cancellation)
    {
        var o = options.Value;
        if (InProcess.TryGetValue(endpoint, out var local) && local._disposed == 0)
        {
            if (o.DataPlaneSendDelayMs > 0) await Task.Delay(o.DataPlaneSendDelayMs, cancellation).ConfigureAwait(false);
            var buffer = ArrayPool<byte>.Shared.Rent(payload.Length);
            payload.Span.CopyTo(buffer);
            local.Metrics.BytesReceived(payload.Length + 12 + Encoding.UTF8.GetByteCount(key));
            local.Deliver(key, new Payload(buffer, payload.Length));
        }
        else
        {
            var peer = _peers.GetOrAdd(endpoint, e => new PeerConnection(e, certificates,
                TimeSpan.FromSeconds(o.DataPlaneReadTimeoutSeconds), TimeSpan.FromMilliseconds(o.DataPlaneSendDelayMs)));
            await peer.SendAsync(key, payload, cancellation).ConfigureAwait(false);
        }
        metrics.BytesSent(payload.Length + 12 + Encoding.UTF8.GetByteCount(key));
    }

    /// <summary>
    /// An operation was aborted: frames already parked under <paramref name="prefix"/> are freed, and frames that arrive
    /// for it later are dropped on arrival.
    /// </summary>
    public void Discard(string prefix)
    {
        _discarded[prefix] = DateTime.UtcNow;
        foreach (var old in _discarded.Where(d => d.Value < DateTime.UtcNow.AddHours(-1)).Select(d => d.Key).ToList()) _discarded.TryRemove(old, out _);
        foreach (var key in _parked.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
            if (_parked.TryRemove(key, out var slot))
            {
                if (slot.Task.IsCompletedSuccessfully) slot.Task.Result.Return();
                else slot.TrySetCanceled();
            }
    }

    private bool IsDiscarded(string key) => !_discarded.IsEmpty && _discarded.Keys.Any(p => key.StartsWith(p, StringComparison.Ordinal));

    /// <summary>Frames parked and not yet taken (for tests: an operation leaves none behind).</summary>
    public int Parked => _parked.Count(p => p.Value.Task.IsCompletedSuccessfully);

    private static async Task<bool> ReceiveExactlyAsync(Stream stream, Memory<byte> buffer, bool endOk = false, CancellationToken cancellation = default)
    {
        bool first = true;
        while (buffer.Length > 0)
        {
            int n = await stream.ReadAsync(buffer, cancellation).ConfigureAwait(false);
            if (n == 0)
            {
                if (endOk && first) return false;
                throw new IOException("the data-plane connection closed mid-frame");
            }
            first = false;
            buffer = buffer[n..];
        }
        return true;
    }

    private int _disposed;

    private Telemetry.LwfMetrics Metrics => metrics;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return; // the container holds it twice (service and hosted service)
        InProcess.TryRemove(new KeyValuePair<string, DataPlane>(Endpoint, this));
        _stopping.Cancel();
        _listener?.Dispose();
        foreach (var peer in _peers.Values) peer.Dispose();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Data plane listening at {Endpoint}")]
    private static partial void LogListening(ILogger logger, string endpoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data plane: accept failed ({Reason}); going on")]
    private static partial void LogAcceptFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data plane: {Limit} connections are open; a new one was closed")]
    private static partial void LogRefused(ILogger logger, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data plane: {Limit} connections are open; closed the one that had waited longest without a whole frame header")]
    private static partial void LogEvicted(ILogger logger, int limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data plane: refused {Remote}, its TLS handshake failed ({Reason})")]
    private static partial void LogHandshakeRefused(ILogger logger, string remote, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Data plane: dropped a connection that sent a bad frame ({Reason})")]
    private static partial void LogBadFrame(ILogger logger, string reason);
}
