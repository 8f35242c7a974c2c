namespace Lwf.Core.Tests.Jobs;

/// <summary>Job files for tests, over the licence-text example data (examples/jobs/licenses).</summary>
internal static class JobFiles
{
    public static string ExampleData(string file) => Path.Combine(TestPaths.RepoRoot, "examples", "jobs", "licenses", file);

    public static string TinyModel => Path.Combine(TestPaths.RepoRoot, "examples", "models", "gpt2-tiny-bpe");

    /// <summary>A small complete LWF job; the arguments are YAML lines added to the top level or a section.</summary>
    public static string Write(string dir, string forgetting = "", string train = "", string top = "")
    {
        string path = Path.Combine(dir, "job.yaml");
        File.WriteAllText(path, $"""
            name: test-job
            model: {TinyModel}
            seed: 5
            maxLength: 48
            {top}
            data:
              learnTrain: {ExampleData("learn-train.jsonl")}
              learnEval: {ExampleData("learn-eval.jsonl")}
              forgetPrompts: {ExampleData("forget-prompts.jsonl")}
              forgetEval: {ExampleData("forget-eval.jsonl")}
              heldOut: {ExampleData("held-out.jsonl")}
            train:
              steps: 8
              learningRate: 3.0e-3
              microBatchSize: 4
              warmupSteps: 2
            {train}
            selfgen:
              maxNewTokens: 6
            fisher:
              records: 16
            forgetting:
              forgetEvery: 2
              batchSize: 4
            {forgetting}
            eval:
              evalEvery: 4
              maxNewTokens: 4
            """);
        return path;
    }
}
