namespace Lwf.Core.Tasks;

/// <summary>One Brown-corpus sample: its id (ca01 ...), genre, untagged sentences, and whether it is kept for held-out text.</summary>
public sealed record BrownDocument(string Id, string Genre, IReadOnlyList<string> Sentences, bool HeldOut);
