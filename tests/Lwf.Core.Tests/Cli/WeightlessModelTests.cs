using Lwf.Core.Tests.Jobs;

namespace Lwf.Core.Tests.Cli;

/// <summary>A model folder with a config and a tokenizer but no weights: refused, never run on random weights nobody asked for.</summary>
public sealed class WeightlessModelTests
{
    /// <summary>A job folder whose files are named relative to it (as `lwf submit` uploads them), over a weightless model.</summary>
    private static (string Dir, string Job) WeightlessJob()
    {
        string dir = TestPaths.NewTempDir(), model = Path.Combine(dir, "model");
        Directory.CreateDirectory(model);
        File.Copy(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "config.json"), Path.Combine(model, "config.json"));
        string job = JobFiles.Write(dir);
        string text = File.ReadAllText(job).Replace(JobFiles.TinyModel, "model");
        foreach (var file in new[] { "learn-train.jsonl", "learn-eval.jsonl", "forget-prompts.jsonl", "forget-eval.jsonl", "held-out.jsonl" })
        {
            File.Copy(JobFiles.ExampleData(file), Path.Combine(dir, file));
            text = text.Replace(JobFiles.ExampleData(file), file);
        }
        File.WriteAllText(job, text);
        return (dir, job);
    }

    private static void AssertRefused((int ExitCode, string Stdout, string Stderr) run, string dir)
    {
        Assert.True(run.ExitCode == 2, run.Stdout + run.Stderr);
        Assert.Contains($"{Path.Combine(dir, "model")}: no weights (looked for model.safetensors and model.safetensors.index.json)", run.Stderr);
        Assert.Contains("lwf model init", run.Stderr);
        Assert.DoesNotContain("   at ", run.Stderr); // one line, no stack trace
    }

    [Fact]
    public void Generate_refuses_it()
    {
        var (dir, _) = WeightlessJob();
        var run = TestPaths.RunLwf("generate", "--model", Path.Combine(dir, "model"), "--prompt-ids", "1,2,3", "--max-new-tokens", "2");
        AssertRefused(run, dir);
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public void Train_refuses_it_and_writes_nothing()
    {
        var (dir, job) = WeightlessJob();
        string outDir = Path.Combine(dir, "out");
        AssertRefused(TestPaths.RunLwf("train", job, "--out", outDir), dir);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any());
    }

    [Fact]
    public void Submit_refuses_it_before_calling_any_cluster()
    {
        var (dir, job) = WeightlessJob();
        // Port 1 on loopback: nothing listens there, so a refusal that named a connection would have tried one.
        AssertRefused(TestPaths.RunLwf("submit", job, "--gateway", "127.0.0.1:1"), dir);
    }
}
