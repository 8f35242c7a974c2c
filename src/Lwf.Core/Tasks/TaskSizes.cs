namespace Lwf.Core.Tasks;

/// <summary>
/// How many records a builder makes (fewer when the source has fewer). <see cref="Valid"/> records per evaluation set
/// (learning, forgetting, held-out text) are set apart as a validation split by <see cref="TaskPair.Write"/>: disjoint
/// from training and from the evaluation (test) records, for choosing settings that the test figures never saw.
/// </summary>
public sealed record TaskSizes(int Train = 400, int Eval = 100, int HeldOut = 100, int? Prompts = null, int Valid = 0)
{
    /// <summary>
    /// The sizes `lwf demo` and `lwf experiment` use: small enough for 2 CPU cores. 100 forgetting prompts: every
    /// self-generated sample costs a backward pass for its forgetting confidence, the largest cost of an LWF run.
    /// </summary>
    public static readonly TaskSizes Experiment = new(Train: 200, Eval: 80, HeldOut: 100, Prompts: 100);

    /// <summary>Forgetting prompts (self-generation): <see cref="Prompts"/>, or as many as the training records.</summary>
    public int ForgetPrompts => Prompts ?? Train;
}
