namespace Lwf.Core.Replicas;

/// <summary>
/// Where a replica's state comes from when it is not the base model: a checkpoint folder (or a peer's exported
/// state) holding model/, the optimiser's state and the Fisher, with the learning step they belong to.
/// </summary>
public sealed record ResumePoint(string Directory, int LearningSteps, bool HasFisher);
