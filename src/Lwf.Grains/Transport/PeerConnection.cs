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
/// A frame is committed once it holds the connection: from then on it leaves whole, within <paramref name="frameTimeout"/>
/// (the limit the receiver gives a frame once begun), whatever becomes of the operation that sent it. Withdrawing it
/// halfway would leave the stream unusable for the next operation; a frame of an aborted operation is the receiver's to
/// refuse (<see cref="DataPlane"/>), as it refuses one that was already on the wire.
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
        // Until the frame holds the connection it may be withdrawn (the operation was aborted: nothing was sent).
        await _writing.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            _stream ??= await ConnectAsync(cancellation).ConfigureAwait(false);
            if (linkDelay > TimeSpan.Zero)
            {
                await OnTheLink(_stream, header, payload).ConfigureAwait(false);
                return;
            }
            using var committed = new CancellationTokenSource(frameTimeout);
            await _stream.WriteAsync(header, committed.Token).ConfigureAwait(false);
            await _stream.WriteAsync(payload, committed.Token).ConfigureAwait(false);
            await _stream.FlushAsync(committed.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException or AuthenticationException)
        {
            // A frame cut short leaves the stream unusable: the next send opens a new connection.
            _stream?.Dispose();
            _stream = null;
            if (e is OperationCanceledException && cancellation.IsCancellationRequested) throw; // withdrawn before it began
            throw new IOException(e is OperationCanceledException
                ? $"data plane: {endpoint} took no whole frame within {frameTimeout.TotalSeconds:F0} s"
                : $"data plane: sending to {endpoint} failed: {e.Message}", e);
        }
        finally
        {
            _writing.Release();
        }
    }

    /// <summary>
    /// Fault testing: a slow link. The frame has left the operation and reaches the peer linkDelay later, carried by a
    /// thread of its own as a NIC would carry it, not by the thread pool: a silo that hangs now still delivers it the
    /// moment it wakes, before the pool's backlog (timers, logs, the membership refresh that stops a silo declared dead)
    /// has run.
    /// </summary>
    private Task OnTheLink(Stream stream, byte[] header, ReadOnlyMemory<byte> payload)
    {
        var sent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var link = new Thread(() =>
        {
            try
            {
                Thread.Sleep(linkDelay);
                // A peer that takes nothing (cut off, hung) holds the write no longer than a frame's limit: the same
                // bound as the pool's writes, so that a collective waiting on this frame can end.
                if (stream.CanTimeout) stream.WriteTimeout = (int)frameTimeout.TotalMilliseconds;
                stream.Write(header);
                stream.Write(payload.Span);
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
