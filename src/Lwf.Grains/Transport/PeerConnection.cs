using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using Lwf.Grains.Security;

namespace Lwf.Grains.Transport;

/// <summary>
/// One outgoing data-plane connection to a peer silo: frames are written whole and in order, one at a time; over mutual
/// TLS when the cluster has certificates (the peer must prove it is a member before a byte of a tensor leaves).
/// A frame whose operation is aborted mid-write is cut short, and the connection with it (the next frame opens a new
/// one): the payload is the collective's memory, which the aborted operation gives back at once.
/// </summary>
internal sealed class PeerConnection(string endpoint, ClusterCertificates? certificates, TimeSpan frameTimeout, TimeSpan linkDelay) : IDisposable
{
    private readonly SemaphoreSlim _writing = new(1, 1);
    private Stream? _stream;

    public async Task SendAsync(string key, ReadOnlyMemory<byte> payload, CancellationToken cancellation)
    {
        var keyBytes = Encoding.UTF8.GetBytes(key);
        if (keyBytes.Length > DataPlane.MaxKeyBytes) throw new ArgumentException($"data-plane key of {keyBytes.Length} bytes (limit {DataPlane.MaxKeyBytes})");
        var header = new byte[12 + keyBytes.Length];
        BinaryPrimitives.WriteInt32LittleEndian(header, keyBytes.Length);
        keyBytes.CopyTo(header, 4);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(4 + keyBytes.Length), payload.Length);
        await _writing.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            _stream ??= await ConnectAsync(cancellation).ConfigureAwait(false);
            if (linkDelay > TimeSpan.Zero)
            {
                await OnTheLink(_stream, header, payload.ToArray()).ConfigureAwait(false);
                return;
            }
            await _stream.WriteAsync(header, cancellation).ConfigureAwait(false);
            await _stream.WriteAsync(payload, cancellation).ConfigureAwait(false);
            await _stream.FlushAsync(cancellation).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            // A frame cut short leaves the stream unusable: the next send opens a new connection.
            _stream?.Dispose();
            _stream = null;
            if (e is OperationCanceledException) throw;
            throw new IOException($"data plane: sending to {endpoint} failed: {e.Message}", e);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>
    /// Fault testing: a slow link. The frame (a copy: it is on the link, no longer the collective's memory) reaches the
    /// peer linkDelay later, carried by a thread of its own as a NIC would carry it, not by the thread pool, and no abort
    /// withdraws it: a silo that hangs now still delivers it the moment it wakes, before the pool's backlog (timers, logs,
    /// the membership refresh that stops a silo declared dead) has run. A peer that takes nothing holds each write no
    /// longer than a frame's limit.
    /// </summary>
    private Task OnTheLink(Stream stream, byte[] header, byte[] payload)
    {
        var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var link = new Thread(() =>
        {
            try
            {
                Thread.Sleep(linkDelay);
                if (stream.CanTimeout) stream.WriteTimeout = (int)frameTimeout.TotalMilliseconds;
                stream.Write(header);
                stream.Write(payload);
                stream.Flush();
                sent.SetResult();
            }
            catch (Exception e)
            {
                sent.SetException(e);
            }
        }) { IsBackground = true, Name = "lwf-link" };
        link.Start();
        return sent.Task;
    }

    private async Task<Stream> ConnectAsync(CancellationToken cancellation)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], out int port)) throw new ArgumentException($"data-plane endpoint '{endpoint}' is not host:port");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await socket.ConnectAsync(endpoint[..colon].Trim('[', ']'), port, timeout.Token).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            if (certificates is null) return stream;
            var tls = new SslStream(stream, leaveInnerStreamOpen: false);
            // The handshake has a time of its own: a connect that took most of its 10 s must not cut it short.
            timeout.CancelAfter(ClusterTls.HandshakeTimeout);
            try
            {
                await tls.AuthenticateAsClientAsync(certificates.ClientOptions(), timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                await tls.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            return tls;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _stream?.Dispose();
        _stream = null;
    }
}
