namespace Lwf.Abstractions;

/// <summary>What a shard needs to load its part of a job.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardSetup(
    [property: Id(0)] string JobFile,
    [property: Id(1)] int ShardIndex,
    [property: Id(2)] int ShardCount,
    [property: Id(3)] string WorkDirectory);

[GenerateSerializer, Immutable]
public sealed record ShardInfo(
    [property: Id(0)] int ShardIndex,
    [property: Id(1)] string Silo,
    [property: Id(2)] int LearningRecords,
    [property: Id(3)] int ForgettingPrompts,
    [property: Id(4)] int Samples);

/// <summary>The kinds of work a plan asks of the shards.</summary>
public enum WorkKind
{
    /// <summary>Σ over records of ∇(Σ token NLL), with ΣNLL and the token count.</summary>
    LearningGradient,
    /// <summary>Σ g⊙g and Σ g over records, one record at a time, with the count.</summary>
    Fisher,
    /// <summary>Σ over D_U samples of ∇ of the forgetting loss's numerator, with the token count.</summary>
    ForgettingGradient,
}

/// <summary>
/// One operation over the shards: which global record (or sample) indices to use, and the model version
/// (and Fisher version, for scoring) to use them with. Each shard does the indices it owns.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record WorkPlan(
    [property: Id(0)] string OperationId,
    [property: Id(1)] WorkKind Kind,
    [property: Id(2)] long ModelVersion,
    [property: Id(3)] int[] Indices);

/// <summary>A shard's answer: it deposited its sums on its silo under the operation id.</summary>
[GenerateSerializer, Immutable]
public sealed record Deposit(
    [property: Id(0)] int ShardIndex,
    [property: Id(1)] string Silo,
    [property: Id(2)] int Items);

/// <summary>Scores of the samples a shard owns, by global sample index.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardScores([property: Id(0)] int[] SampleIndices, [property: Id(1)] double[] Scores);

/// <summary>A self-generated sample as its shard reports it: global index, source, ids, and text if any.</summary>
[GenerateSerializer, Immutable]
public sealed record SampleInfo(
    [property: Id(0)] int Index,
    [property: Id(1)] string Source,
    [property: Id(2)] long[] PromptIds,
    [property: Id(3)] long[] ResponseIds,
    [property: Id(4)] string? Prompt,
    [property: Id(5)] string? Response);
