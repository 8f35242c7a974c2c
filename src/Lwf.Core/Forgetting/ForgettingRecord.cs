using Lwf.Core.Data;

namespace Lwf.Core.Forgetting;

/// <summary>
/// A sample of D_U as a record of a learning step: prompt ++ response with the loss on the response, and the base
/// model's log-likelihood of that response (Σ over its tokens; NPO's reference, null for samples made before it was stored).
/// </summary>
public sealed record ForgettingRecord(TokenizedRecord Record, double? ReferenceLogLikelihood);
