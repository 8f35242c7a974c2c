using Microsoft.AspNetCore.Connections;

namespace Lwf.Cli;

/// <summary>
/// Whether the console tries to connect again. A gateway that does not answer or refuses the TCP connection may be a
/// silo still starting or one that died (another gateway may take over): tried again, every half second, until the
/// connection's time runs out. A gateway that takes the TCP connection and closes it in its handshake has refused this
/// client's credentials (a certificate of another authority, or no TLS where the cluster wants it); that answer twice
/// (once may be a silo dying mid-handshake) ends the attempt at once instead of after the whole 30 s. Attempts in between
/// may fail without reaching a gateway at all (Orleans' own back-off after a failed connection): they count for nothing.
/// </summary>
internal sealed class ConnectRetryFilter : IClientConnectionRetryFilter
{
    private int _closedInHandshake;

    /// <summary>True once the attempt was given up because gateways closed the connection in its handshake.</summary>
    public bool Refused { get; private set; }

    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is ConnectionAbortedException)
            {
                _closedInHandshake++;
                break;
            }
        if (_closedInHandshake >= 2)
        {
            Refused = true;
            return false;
        }
        await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
        return true;
    }
}
