namespace Lwf.Grains.Collectives;

/// <summary>
/// One recovery of a job, as its coordinator sees it: from the job's last progress (its last completed operation; for
/// a trainer resumed after its silo stopped, the previous activation's last line in the job log) to the failure being
/// noticed, the ring formed again and the first operation after completed (in the learning phase, the learning step). Written to the job log and recorded as
/// lwf_recovery_duration_seconds{stage} when that operation completes: how long the job stood still, and where.
/// </summary>
public sealed class RecoveryTimeline(string cause, DateTimeOffset lastProgress, DateTimeOffset noticed)
{
    private DateTimeOffset? _ringFormed;

    public void RingFormed(DateTimeOffset at) => _ringFormed ??= at;

    /// <summary>Seconds from the last progress to each stage, work resumed at <paramref name="resumed"/>.</summary>
    public IReadOnlyList<(RecoveryStage Stage, double Seconds)> Stages(DateTimeOffset resumed) =>
    [
        (RecoveryStage.Noticed, Since(noticed)),
        (RecoveryStage.RingFormed, Since(_ringFormed ?? resumed)),
        (RecoveryStage.WorkResumed, Since(resumed)),
    ];

    /// <summary>The job log's line: "recovery (cause): noticed after 9.1 s, ring formed after 12.0 s, learning-step7.2 done after 14.2 s (from the job's last progress)".</summary>
    public string Describe(DateTimeOffset resumed, string operation) =>
        $"recovery ({cause}): " + string.Join(", ", Stages(resumed).Select(s => FormattableString.Invariant($"{Words(s.Stage, operation)} after {s.Seconds:F1} s"))) + " (from the job's last progress)";

    private double Since(DateTimeOffset at) => Math.Max(0, (at - lastProgress).TotalSeconds);

    private static string Words(RecoveryStage stage, string operation) => stage switch
    {
        RecoveryStage.Noticed => "noticed",
        RecoveryStage.RingFormed => "ring formed",
        _ => $"{operation} done",
    };
}
