namespace Lwf.Grains.Collectives;

/// <summary>The stages of a job's recovery, each timed from the job's last progress (metric tag `stage`, job log).</summary>
public enum RecoveryStage
{
    /// <summary>The failure was noticed: an operation on the ring failed, or a new trainer activation began.</summary>
    Noticed,
    /// <summary>A ring of live silos was formed again (shards re-activated, replicas caught up).</summary>
    RingFormed,
    /// <summary>The first operation after the failure completed (in the learning phase: the learning step, redone).</summary>
    WorkResumed,
}
