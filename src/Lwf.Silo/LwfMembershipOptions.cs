using System.ComponentModel.DataAnnotations;
using Orleans.Configuration;

namespace Lwf.Silo;

/// <summary>
/// Membership timings for a training cluster (section "Cluster:Membership"; environment Cluster__Membership__ProbeTimeout=00:00:03).
/// Orleans' defaults suit a service of many small calls that should ride out a slow silo; a training job stops as a
/// whole while a silo it holds is dead, so a death is worth finding fast. A SIGKILLed silo refuses connections, so
/// each probe fails at once and every <see cref="ProbeTimeout"/> one is missed: it is suspected after
/// <see cref="NumMissedProbesLimit"/> × <see cref="ProbeTimeout"/> (9 s with these values; Orleans' defaults, 3 × 5 s
/// = 15 s) and declared dead at once by the votes of two survivors. A hung silo (SIGSTOP) is found as fast: its
/// probes time out. A busy silo is not taken for dead: Orleans lengthens the probe timeout (adaptively, up to 4×)
/// while responses are slow and while the prober itself is degraded.
/// </summary>
public sealed class LwfMembershipOptions
{
    public const string Section = "Cluster:Membership";

    /// <summary>The first probe timeout, and the period of probes (Orleans adapts it between half and 4 times this).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Missed probes before a silo is suspected.</summary>
    [Range(1, 10)]
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>Suspicions that declare a silo dead (Orleans asks fewer when fewer silos are left to vote).</summary>
    [Range(1, 10)]
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>How often a silo re-reads the membership table (a backstop to gossip; Orleans: 60 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a silo writes its heartbeat in the table (Orleans: 30 s).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a suspicion counts toward a death declaration (Orleans: 2 min).</summary>
    [Range(typeof(TimeSpan), "00:00:05", "00:30:00")]
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public void ApplyTo(ClusterMembershipOptions orleans)
    {
        orleans.ProbeTimeout = ProbeTimeout;
        orleans.NumMissedProbesLimit = NumMissedProbesLimit;
        orleans.NumVotesForDeathDeclaration = NumVotesForDeathDeclaration;
        orleans.TableRefreshTimeout = TableRefreshTimeout;
        orleans.IAmAliveTablePublishTimeout = IAmAliveTablePublishTimeout;
        orleans.DeathVoteExpirationTimeout = DeathVoteExpirationTimeout;
    }
}
