namespace Lwf.Grains.Security;

/// <summary>
/// What a certificate of the cluster lets its holder be. A silo's certificate admits it to the silo port, the data plane
/// and the gateway; a client's admits it to the gateway only, where the client API fence (<see cref="ClientCallFilter"/>)
/// keeps it to the client API. So a stolen client certificate cannot join the cluster as a silo and call what silos call.
/// </summary>
public enum ClusterRole
{
    Silo,
    Client,
}
