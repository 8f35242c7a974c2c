using Lwf.Core.Data;

namespace Lwf.Core.Forgetting;

/// <summary>
/// One self-generated sample s_i: the base model's own answer to a forgetting prompt. Its global index is
/// prompt index × samplesPerPrompt + sample number, whichever shard made it. <see cref="ReferenceLogLikelihood"/> is
/// the base model's log-likelihood of the response (Σ over its tokens), NPO's reference.
/// </summary>
public sealed record SelfGeneratedSample(int Index, string Source, long[] PromptIds, long[] ResponseIds, string? Prompt, string? Response,
    double? ReferenceLogLikelihood = null)
{
    /// <summary>prompt ++ response with the loss on the response: what ℓ(s_i) is computed on.</summary>
    public TokenizedRecord ToRecord() =>
        new([.. PromptIds, .. ResponseIds], Enumerable.Range(0, PromptIds.Length + ResponseIds.Length).Select(t => t >= PromptIds.Length && t > 0).ToArray());

    /// <summary>The sample as a forgetting record of a learning step.</summary>
    public ForgettingRecord ToForgettingRecord() => new(ToRecord(), ReferenceLogLikelihood);
}
