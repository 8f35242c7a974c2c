namespace Lwf.Core.Pretraining;

/// <summary>pretrain-report.json: what was trained on what, how well it models each general domain and how well it knows each forgetting task.</summary>
public sealed record PretrainReport(string Fingerprint, PretrainOptions Options, long Parameters, int Steps, double FinalLoss,
    double Seconds, IReadOnlyList<DomainPerplexity> Domains, IReadOnlyList<KnowledgeAccuracy> Knowledge, bool Cached = false);
