namespace Lwf.Grains.Collectives;

/// <summary>
/// The names of the data plane's frames, built in one place. An operation is "learning-step7.1" (the coordinator's 7th
/// operation, first attempt); its collective, "{job}/e{ring epoch}/learning-step7.1"; each bucket, ".../b{n}" (and
/// ".../scalars" for the totals), and each ring step of a bucket, ".../rs{k}" (reduce-scatter) and ".../ag{k}"
/// (all-gather). A ring epoch in the key keeps a re-formed ring's frames apart from the old ring's.
/// </summary>
public static class FrameKeys
{
    public static string Name(this RingOperation operation) => operation switch
    {
        RingOperation.SelfGeneration => "self-generation",
        RingOperation.Scoring => "scoring",
        RingOperation.Fisher => "fisher",
        RingOperation.Learn => "learning-step",
        RingOperation.Check => "check",
        RingOperation.Evaluate => "evaluate",
        RingOperation.Save => "save",
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, null),
    };

    /// <summary>The <paramref name="number"/>th operation of a coordinator, at its <paramref name="attempt"/>th attempt.</summary>
    public static string Operation(RingOperation operation, long number, int attempt) => $"{operation.Name()}{number}.{attempt}";

    /// <summary>One collective of an operation on the ring of <paramref name="epoch"/>, under <paramref name="scope"/> (the job, or "bench").</summary>
    public static string Collective(string scope, long epoch, string operationId) => $"{scope}/e{epoch}/{operationId}";

    /// <summary>What every frame key of a collective starts with.</summary>
    public static string Prefix(string collective) => collective + "/";

    public static string Bucket(string collective, int bucket) => $"{Prefix(collective)}b{bucket}";

    /// <summary>The float64 totals that travel after the buckets.</summary>
    public static string Scalars(string collective) => Prefix(collective) + "scalars";

    public static string ReduceScatter(string bucket, int step) => $"{bucket}/rs{step}";

    public static string AllGather(string bucket, int step) => $"{bucket}/ag{step}";
}
