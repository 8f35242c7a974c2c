using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;

namespace Lwf.Core.Tasks;

/// <summary>
/// A learning task and a forgetting task written as an LWF job folder: learn-train.jsonl, learn-eval.jsonl,
/// forget-prompts.jsonl, forget-eval.jsonl, held-out.jsonl (Brown-corpus text neither task uses) and job.yaml.
/// </summary>
public static class TaskPair
{
    public static string Write(string outDirectory, string dataDirectory, string learn, string forget, string model, TaskSizes sizes, long seed)
    {
        var learning = TaskBuilders.Get(TaskBuilders.Learning, learn, "learning")(dataDirectory, sizes, seed);
        var forgetting = TaskBuilders.Get(TaskBuilders.Forgetting, forget, "forgetting")(dataDirectory, sizes, seed);
        var heldOut = BrownCorpus.HeldOutText(dataDirectory, sizes.HeldOut, seed);
        string dir = Path.GetFullPath(outDirectory);
        Directory.CreateDirectory(dir);
        WriteJsonl(Path.Combine(dir, "learn-train.jsonl"), learning.Train);
        WriteJsonl(Path.Combine(dir, "learn-eval.jsonl"), learning.Eval);
        WriteJsonl(Path.Combine(dir, "forget-prompts.jsonl"), forgetting.Prompts);
        WriteJsonl(Path.Combine(dir, "forget-eval.jsonl"), forgetting.Eval);
        WriteJsonl(Path.Combine(dir, "held-out.jsonl"), heldOut);
        string job = Path.Combine(dir, "job.yaml");
        AtomicFile.WriteText(job, $"""
            # Learn {learning.Name} ({learning.Description}) while forgetting {forgetting.Name} ({forgetting.Description}).
            # Written by `lwf data build --learn {learn} --forget {forget} --seed {seed}`; data from `lwf data fetch`.
            name: {learn}-vs-{forget}
            model: {Path.GetFullPath(model)}
            seed: {seed}
            maxLength: 96

            data:
              learnTrain: learn-train.jsonl
              learnEval: learn-eval.jsonl
              forgetPrompts: forget-prompts.jsonl
              forgetEval: forget-eval.jsonl
              heldOut: held-out.jsonl

            train:
              steps: 60
              learningRate: 1.0e-3
              warmupSteps: 6
              microBatchSize: 8

            selfgen:
              maxNewTokens: 16

            fisher:
              records: 64

            forgetting:
              scorer: fisher
              forgetFraction: 0.3
              alpha: 0.5
              forgetEvery: 5
              batchSize: 8

            eval:
              maxNewTokens: 8

            """);
        return job;
    }

    public static void WriteJsonl(string path, IEnumerable<JsonObject> records) =>
        AtomicFile.WriteText(path, string.Concat(records.Select(r => r.ToJsonString(new System.Text.Json.JsonSerializerOptions
        {
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }) + "\n")));
}
