namespace Lwf.Core.Data;

/// <summary>A multiple-choice question: the answer is the index of the right choice.</summary>
public sealed record MultipleChoiceRecord(string Prompt, string[] Choices, int Answer);
