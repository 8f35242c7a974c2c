using Lwf.Core.IO;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Reports;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// trainer_state.json in the Hugging Face Trainer's schema (transformers' TrainerState): global_step, max_steps,
/// the logging/eval/save intervals, and log_history, one entry every logging_steps learning steps
/// ({step, epoch, loss, learning_rate}: the mean loss since the previous entry and, as the Trainer logs it, the rate
/// after the step's scheduler step), one per
/// step that carried forgetting records ({step, epoch, forget_loss}: their mean token NLL) and one per evaluation ({step, epoch, eval_SET_METRIC}). Written into
/// every checkpoint and, with the run's summary entry (train_loss, train_runtime, ...), beside the result. It is
/// written for the people and tools that read the Trainer's; LWF's own state (samplers, D_U) is lwf_state.json.
/// </summary>
public static class TrainerStateFile
{
    public const string FileName = "trainer_state.json";

    public static void Write(string directory, JobSpec spec, LwfReport report, int globalStep, int learningRecords, bool final = false) =>
        AtomicFile.WriteText(Path.Combine(directory, FileName), Build(spec, report, globalStep, learningRecords, final).ToJsonString(Indented));

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static JsonObject Build(JobSpec spec, LwfReport report, int globalStep, int learningRecords, bool final)
    {
        var train = spec.Train;
        double Epoch(int step) => (double)step * train.GlobalBatchSize / Math.Max(1, learningRecords);
        var history = new List<(int Step, int Order, JsonObject Entry)>();

        var losses = report.LearningLoss.Where(l => l.Step <= globalStep).OrderBy(l => l.Step).ToList();
        for (int i = 0, from = 0; i < losses.Count; i++)
        {
            int step = losses[i].Step;
            if (step % spec.LoggingSteps != 0 && i != losses.Count - 1) continue;
            double mean = losses.Skip(from).Take(i + 1 - from).Average(l => l.Loss);
            from = i + 1;
            // As the Trainer logs it: the scheduler's rate once the step has stepped it (the next step's rate).
            double rate = train.LearningRate * LearningRateSchedule.Multiplier(step, train.WarmupSteps, train.Steps, train.Scheduler);
            history.Add((step, 0, new JsonObject { ["epoch"] = Epoch(step), ["learning_rate"] = rate, ["loss"] = mean, ["step"] = step }));
        }
        foreach (var point in report.ForgettingLoss.Where(l => l.Step <= globalStep))
            history.Add((point.Step, 1, new JsonObject { ["epoch"] = Epoch(point.Step), ["forget_loss"] = point.Loss, ["step"] = point.Step }));
        foreach (var evaluation in report.Evaluations.Where(e => e.Step <= globalStep))
        {
            var entry = new JsonObject { ["epoch"] = Epoch(evaluation.Step) };
            foreach (var result in evaluation.Results)
                entry[$"eval_{result.Set.Replace('-', '_')}_{result.Metric.Replace('-', '_')}"] = result.Value;
            entry["step"] = evaluation.Step;
            history.Add((evaluation.Step, 2, entry));
        }

        long tokens = report.StepTimes.Where(t => t.Step <= globalStep).Sum(t => t.InputTokens);
        // transformers' estimate of a causal LM's training compute: 6 × parameters × tokens.
        double flos = 6.0 * report.Parameters * tokens;
        if (final)
        {
            double runtime = report.StageSeconds.Values.Sum();
            history.Add((globalStep, 3, new JsonObject
            {
                ["epoch"] = Epoch(globalStep),
                ["step"] = globalStep,
                ["total_flos"] = flos,
                ["train_loss"] = losses.Count > 0 ? losses.Average(l => l.Loss) : 0.0,
                ["train_runtime"] = runtime,
                ["train_samples_per_second"] = runtime > 0 ? globalStep * (double)train.GlobalBatchSize / runtime : 0.0,
                ["train_steps_per_second"] = runtime > 0 ? globalStep / runtime : 0.0,
            }));
        }

        return new JsonObject
        {
            ["best_global_step"] = null,
            ["best_metric"] = null,
            ["best_model_checkpoint"] = null,
            ["epoch"] = Epoch(globalStep),
            ["eval_steps"] = spec.Eval.EvalEvery,
            ["global_step"] = globalStep,
            ["is_hyper_param_search"] = false,
            ["is_local_process_zero"] = true,
            ["is_world_process_zero"] = true,
            ["log_history"] = new JsonArray(history.OrderBy(h => h.Step).ThenBy(h => h.Order).Select(h => (JsonNode)h.Entry).ToArray()),
            ["logging_steps"] = spec.LoggingSteps,
            ["max_steps"] = train.Steps,
            ["num_input_tokens_seen"] = tokens,
            ["num_train_epochs"] = (int)Math.Ceiling(Epoch(train.Steps)),
            ["save_steps"] = spec.Checkpoint.Every,
            ["stateful_callbacks"] = new JsonObject(),
            ["total_flos"] = flos,
            ["train_batch_size"] = train.MicroBatchSize,
            ["trial_name"] = null,
            ["trial_params"] = null,
        };
    }
}
