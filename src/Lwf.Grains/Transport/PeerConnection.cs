using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Lwf.Grains.Transport;

/// <summary>One outgoing data-plane connection to a peer silo: frames are written whole and in order, one at a time.</summary>
internal sealed class PeerConnection(string endpoint) : IDisposable
{
    private readonly SemaphoreSlim _writing = new(1, 1);
    private Socket? _socket;

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
            _socket ??= await ConnectAsync(cancellation).ConfigureAwait(false);
            await _socket.SendAsync(header, SocketFlags.None, cancellation).ConfigureAwait(false);
            while (payload.Length > 0)
            {
                int n = await _socket.SendAsync(payload, SocketFlags.None, cancellation).ConfigureAwait(false);
                payload = payload[n..];
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // A frame cut short leaves the stream unusable: the next send opens a new connection.
            _socket?.Dispose();
            _socket = null;
            if (e is OperationCanceledException) throw;
            throw new IOException($"data plane: sending to {endpoint} failed: {e.Message}", e);
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task<Socket> ConnectAsync(CancellationToken cancellation)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], out int port)) throw new ArgumentException($"data-plane endpoint '{endpoint}' is not host:port");
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await socket.ConnectAsync(endpoint[..colon].Trim('[', ']'), port, timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return socket;
    }

    public void Dispose()
    {
        _socket?.Dispose();
        _socket = null;
    }
}
