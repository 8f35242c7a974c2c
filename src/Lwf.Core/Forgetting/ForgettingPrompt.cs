namespace Lwf.Core.Forgetting;

/// <summary>A forgetting-task prompt: its global index, where it came from and its token ids.</summary>
public sealed record ForgettingPrompt(int Index, string Source, long[] PromptIds, string? PromptText);
