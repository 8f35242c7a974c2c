namespace Lwf.Abstractions;

/// <summary>Scores of the samples a shard owns, by global sample index.</summary>
[GenerateSerializer, Immutable]
public sealed record ShardScores([property: Id(0)] int[] SampleIndices, [property: Id(1)] double[] Scores);
