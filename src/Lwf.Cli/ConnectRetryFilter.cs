using Microsoft.AspNetCore.Connections;

namespace Lwf.Cli;

/// <summary>
/// Whether the console tries to connect again. A gateway that does not answer or refuses the TCP connection may be a
/// silo still starting or one that died (another gateway may take over): tried again, every half second, until the
/// connection's time runs out. A gateway that takes the TCP connection and closes it in its handshake has refused this
/// client's credentials (a certificate of another authority, or no TLS where the cluster wants it): that ends the attempt
/// at once instead of after the whole 30 s. A plain-TCP client learns it only when the silo's TLS handshake times out
/// (10 s), so waiting for a second such answer (in case the first was a silo dying mid-handshake) ran past the 30 s
/// under CI's load.
/// </summary>
internal sealed class ConnectRetryFilter : IClientConnectionRetryFilter
{
    /// <summary>True once the attempt was given up because a gateway closed the connection in its handshake.</summary>
    public bool Refused { get; private set; }

    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is ConnectionAbortedException)
            {
                Refused = true;
                return false;
            }
        // Orleans' own back-off after a failed connection also lands here, without reaching a gateway: tried again.
        await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        return true;
    }
}
