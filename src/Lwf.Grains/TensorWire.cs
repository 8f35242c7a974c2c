using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Lwf.Grains;

/// <summary>
/// The data plane's wire: a plain TCP protocol on the silo's data-plane port. A request is
/// [int32 key length][key, UTF-8][int32 chunk]; the answer is [int64 length] (-1: not served here) and the
/// bytes, written straight from the chunk's array. Connections stay open for the next request. It is the
/// raw-socket path the transport benchmark measures as its ceiling, with nothing copied in user space.
/// </summary>
public static class TensorWire
{
    private const int MaxKeyBytes = 4096;
    private static readonly ConcurrentDictionary<string, ConcurrentBag<Socket>> Idle = new();

    /// <summary>The chunk from tcp://HOST:PORT/KEY, or null when that silo cannot give it (the caller falls back to a grain call).</summary>
    public static async Task<byte[]?> TryFetchAsync(string url, int chunk, int expected, Func<int, byte[]> rent)
    {
        if (!TryParse(url, out string endpoint, out string key)) return null;
        Socket? socket = null;
        try
        {
            socket = Idle.TryGetValue(endpoint, out var bag) && bag.TryTake(out var idle) ? idle : await ConnectAsync(endpoint).ConfigureAwait(false);
            var keyBytes = Encoding.UTF8.GetBytes(key);
            var request = new byte[8 + keyBytes.Length];
            BinaryPrimitives.WriteInt32LittleEndian(request, keyBytes.Length);
            keyBytes.CopyTo(request, 4);
            BinaryPrimitives.WriteInt32LittleEndian(request.AsSpan(4 + keyBytes.Length), chunk);
            await socket.SendAsync(request).ConfigureAwait(false);
            var header = new byte[8];
            await ReceiveExactlyAsync(socket, header).ConfigureAwait(false);
            long length = BinaryPrimitives.ReadInt64LittleEndian(header);
            if (length != expected)
            {
                socket.Dispose(); // not served, or another size: the stream is not worth resynchronising
                return null;
            }
            var buffer = rent(expected);
            await ReceiveExactlyAsync(socket, buffer).ConfigureAwait(false);
            Idle.GetOrAdd(endpoint, _ => []).Add(socket);
            return buffer;
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            socket?.Dispose();
            return null;
        }
    }

    private static async Task<Socket> ConnectAsync(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await socket.ConnectAsync(endpoint[..colon], int.Parse(endpoint[(colon + 1)..]), timeout.Token).ConfigureAwait(false);
        return socket;
    }

    private static bool TryParse(string url, out string endpoint, out string key)
    {
        endpoint = key = "";
        if (!url.StartsWith("tcp://", StringComparison.Ordinal)) return false;
        int slash = url.IndexOf('/', 6);
        if (slash < 0) return false;
        endpoint = url[6..slash];
        key = Uri.UnescapeDataString(url[(slash + 1)..]);
        return true;
    }

    internal static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int n = await socket.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
            if (n == 0) throw new IOException("the data-plane connection closed");
            buffer = buffer[n..];
        }
    }

    /// <summary>Serves one connection: requests until the peer closes it.</summary>
    internal static async Task ServeAsync(Socket socket, TensorExchange exchange, CancellationToken stopping)
    {
        using var _ = socket;
        var header = new byte[4];
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                await ReceiveExactlyAsync(socket, header).ConfigureAwait(false);
                int keyLength = BinaryPrimitives.ReadInt32LittleEndian(header);
                if (keyLength is <= 0 or > MaxKeyBytes) return;
                var keyAndChunk = new byte[keyLength + 4];
                await ReceiveExactlyAsync(socket, keyAndChunk).ConfigureAwait(false);
                string key = Encoding.UTF8.GetString(keyAndChunk, 0, keyLength);
                int chunk = BinaryPrimitives.ReadInt32LittleEndian(keyAndChunk.AsSpan(keyLength));
                var answer = new byte[8];
                if (!exchange.TryGetChunk(key, chunk, out var bytes))
                {
                    BinaryPrimitives.WriteInt64LittleEndian(answer, -1);
                    await socket.SendAsync(answer).ConfigureAwait(false);
                    continue;
                }
                BinaryPrimitives.WriteInt64LittleEndian(answer, bytes.Length);
                await socket.SendAsync(answer).ConfigureAwait(false);
                await socket.SendAsync(bytes).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException) { }
    }
}

/// <summary>Listens on the silo's data-plane port (<see cref="LwfSiloOptions.DataPlanePort"/>) and serves <see cref="TensorExchange"/>.</summary>
public sealed partial class TensorWireServer(TensorExchange exchange, IOptions<LwfSiloOptions> options, ILogger<TensorWireServer> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        int port = options.Value.DataPlanePort;
        if (port == 0) return;
        using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
        listener.DualMode = true;
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
        listener.Listen(64);
        LogListening(logger, port);
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await listener.AcceptAsync(stoppingToken); }
            catch (OperationCanceledException) { return; }
            socket.NoDelay = true;
            _ = Task.Run(() => TensorWire.ServeAsync(socket, exchange, stoppingToken), stoppingToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Tensor data plane listening on port {Port}")]
    private static partial void LogListening(ILogger logger, int port);
}
