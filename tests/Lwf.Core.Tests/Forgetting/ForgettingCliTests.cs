using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;

namespace Lwf.Core.Tests.Forgetting;

/// <summary>`lwf fisher` and `lwf confidence` from pre-tokenized {input_ids} JSONL, against PyTorch.</summary>
public sealed class ForgettingCliTests
{
    private static string IdsJsonl(Reference reference, string tensor, string dir)
    {
        string path = Path.Combine(dir, tensor + ".jsonl");
        var rows = FisherReferenceTests.Rows(reference, tensor);
        File.WriteAllLines(path, rows.Select(r => new JsonObject { ["input_ids"] = new JsonArray(r.InputIds.Select(i => (JsonNode)i).ToArray()) }.ToJsonString()));
        return path;
    }

    [Theory]
    [InlineData("gpt2-tiny")]
    [InlineData("llama-tiny")]
    public void Fisher_and_confidence_through_the_cli_match_pytorch(string model)
    {
        using var reference = new Reference(model);
        string dir = TestPaths.NewTempDir();
        string fisherFile = Path.Combine(dir, "F.safetensors");
        var fisher = TestPaths.RunLwf("fisher", "--model", reference.Dir, "--data", IdsJsonl(reference, "learn_ids", dir), "--out", fisherFile);
        Assert.True(fisher.ExitCode == 0, fisher.Stdout + fisher.Stderr);
        using (var file = SafeTensorsFile.Open(fisherFile))
        {
            Assert.Equal("4", file.Metadata["count"]);
            Assert.All(file.Entries.Values, e => Assert.Equal("F32", e.DType));
            FisherReferenceTests.AssertMatchesReference(reference, n => file.Read("fisher." + n), n => file.Read("grad_mean." + n),
                reference.Names.Where(n => n.StartsWith("fisher.")).Select(n => n["fisher.".Length..]).ToList());
        }

        string scores = Path.Combine(dir, "C.jsonl");
        var confidence = TestPaths.RunLwf("confidence", "--model", reference.Dir, "--fisher", fisherFile,
            "--data", IdsJsonl(reference, "forget_ids", dir), "--out", scores);
        Assert.True(confidence.ExitCode == 0, confidence.Stdout + confidence.Stderr);
        var lines = File.ReadAllLines(scores).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        var expected = reference["forget_confidence"].data<float>().ToArray();
        Assert.Equal(expected.Length, lines.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(reference.Row("forget_ids", i), lines[i]["input_ids"]!.AsArray().Select(n => n!.GetValue<long>())); // input order
            double ours = lines[i]["forget_confidence"]!.GetValue<double>();
            Assert.True(Math.Abs(ours - expected[i]) <= 1e-3 * Math.Abs(expected[i]), $"FC[{i}] = {ours}, PyTorch {expected[i]}");
        }
    }

    [Fact]
    public void Selfgen_answers_prompts_with_the_greedy_ids_and_keeps_input_order()
    {
        using var reference = new Reference("llama-tiny");
        string dir = TestPaths.NewTempDir();
        string prompts = Path.Combine(dir, "prompts.jsonl");
        var prompt = reference.Row("greedy_prompt", 0);
        File.WriteAllLines(prompts, [
            new JsonObject { ["input_ids"] = new JsonArray(prompt.Select(i => (JsonNode)i).ToArray()) }.ToJsonString(),
            """{"input_ids": [1, 17, 300]}""",
        ]);
        string output = Path.Combine(dir, "S.jsonl");
        var run = TestPaths.RunLwf("selfgen", "--model", reference.Dir, "--prompts", prompts, "--out", output, "--max-new-tokens", "12");
        Assert.True(run.ExitCode == 0, run.Stdout + run.Stderr);
        var lines = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Equal(reference.Row("greedy_ids", 0), lines[0]["input_ids"]!.AsArray().Select(n => n!.GetValue<long>()));
        Assert.Equal("prompts.jsonl#1", lines[1]["source"]!.GetValue<string>());
        var mask = lines[0]["loss_mask"]!.AsArray().Select(n => n!.GetValue<int>()).ToArray();
        Assert.Equal(Enumerable.Repeat(0, prompt.Length).Concat(Enumerable.Repeat(1, 12)), mask);
    }

    [Fact]
    public void Confidence_with_the_fisher_scorer_and_no_fisher_file_is_a_clear_error()
    {
        var run = TestPaths.RunLwf("confidence", "--model", TestPaths.Fixture("gpt2-tiny"), "--data", "x.jsonl", "--out", "y.jsonl");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("needs --fisher", run.Stderr);
    }
}
