using System.Text.Json.Nodes;

namespace Lwf.Core.Tasks;

/// <summary>
/// A task as LWF job inputs. A learning task has Train ({prompt, response}) and Eval (multiple choice
/// {prompt, choices, answer} or exact match {prompt, response}); a forgetting task has Prompts ({prompt},
/// what the base model answers in self-generation) and Eval. No record of Eval shares its key (the
/// normalised question or passage) with Train or Prompts.
/// </summary>
public sealed record TaskSet(string Name, string Description, IReadOnlyList<JsonObject> Train, IReadOnlyList<JsonObject> Prompts,
    IReadOnlyList<JsonObject> Eval);
