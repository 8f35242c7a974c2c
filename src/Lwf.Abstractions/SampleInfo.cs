namespace Lwf.Abstractions;

/// <summary>A self-generated sample as its shard reports it: global index, source, ids, text if any, and the base model's log-likelihood of the response.</summary>
[GenerateSerializer, Immutable]
public sealed record SampleInfo(
    [property: Id(0)] int Index,
    [property: Id(1)] string Source,
    [property: Id(2)] long[] PromptIds,
    [property: Id(3)] long[] ResponseIds,
    [property: Id(4)] string? Prompt,
    [property: Id(5)] string? Response,
    [property: Id(6)] double? ReferenceLogLikelihood);
