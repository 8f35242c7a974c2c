namespace Lwf.Core.Pretraining;

/// <summary>Held-out perplexity of one general domain before and after pretraining.</summary>
public sealed record DomainPerplexity(string Domain, int TrainWindows, int HeldOutRecords, double Before, double After);
