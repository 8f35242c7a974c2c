namespace Lwf.Core.Jobs;

/// <summary>The datasets of a job (absolute paths). Only learn_train is always required.</summary>
public sealed record JobData(string LearnTrain, string? LearnEval, string? ForgetPrompts, string? ForgetEval, string? HeldOut)
{
    /// <summary>The keys of the job file's data section.</summary>
    public const string LearnTrainKey = "learn_train", LearnEvalKey = "learn_eval", ForgetPromptsKey = "forget_prompts",
        ForgetEvalKey = "forget_eval", HeldOutKey = "held_out";

    /// <summary>Every dataset with its job-file key (data.learn_train, ...), absent ones as null.</summary>
    public IEnumerable<(string Key, string? Path)> Named() =>
    [
        ($"data.{LearnTrainKey}", LearnTrain), ($"data.{LearnEvalKey}", LearnEval), ($"data.{ForgetPromptsKey}", ForgetPrompts),
        ($"data.{ForgetEvalKey}", ForgetEval), ($"data.{HeldOutKey}", HeldOut),
    ];
}
