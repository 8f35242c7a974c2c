using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Jobs;

/// <summary>
/// What a job reads, checked the way its run reads it: the model (config, and every tensor's name, shape, dtype and
/// values, on the CPU) and every data file through the model's tokenizer. A cluster runs this when a job is submitted,
/// so that a bad input is refused there with its file and line, not met by the job's shards later.
/// </summary>
public static class JobInputs
{
    public static void Check(JobSpec spec)
    {
        var config = ModelConfig.Load(spec.Model);
        // A folder with only a config starts from fresh weights: nothing more to read (and initialising them would
        // reseed the process's generator under another job's feet).
        PretrainedModel.RequireWeights(spec.Model, config);
        if (PretrainedModel.HasWeights(spec.Model))
            using (PretrainedModel.Load(spec.Model)) { }
        var encoder = new RecordEncoder(TextTokenizer.Load(spec.Model, config), config, spec.MaxLength);
        if (JsonlDataset.Load(spec.Data.LearnTrain, encoder, spec.SkipBadLines).Records.Count == 0)
            throw new LwfInputException($"{spec.Data.LearnTrain}: no learning records");
        if (spec.Data.ForgetPrompts is { } prompts) SelfGeneration.LoadPrompts(prompts, encoder, spec.SkipBadLines);
        foreach (var (name, path) in new[] { ("learn", spec.Data.LearnEval), ("forget", spec.Data.ForgetEval), ("held-out", spec.Data.HeldOut) })
            if (path is not null) EvalSet.Load(name, path, encoder, spec.SkipBadLines);
    }
}
