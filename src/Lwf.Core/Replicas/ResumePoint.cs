namespace Lwf.Core.Replicas;

/// <summary>
/// Where a replica's state comes from when it is not the base model: a checkpoint folder (or a peer's exported
/// state) holding model/, the two optimisers' states and the Fisher, with the step counts they belong to.
/// </summary>
public sealed record ResumePoint(string Directory, int LearningSteps, int ForgettingSteps, bool HasFisher);
