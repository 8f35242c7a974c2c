using Lwf.Core.Checkpoints;

namespace Lwf.Core.Tests.Cli;

/// <summary>The CLI forms later scripts call, against transformers' outputs.</summary>
public sealed class CliReferenceTests
{
    [Theory]
    [InlineData("gpt2-tiny")]
    [InlineData("llama-tiny")]
    public void Model_logits_writes_logits_and_seq_loss_matching_transformers(string name)
    {
        using var reference = new Reference(name);
        string output = Path.Combine(TestPaths.NewTempDir(), "out.safetensors");
        var (code, stdout, stderr) = TestPaths.RunLwf("model", "logits", "--model", reference.Dir,
            "--input", Path.Combine(reference.Dir, "reference.safetensors"), "--out", output);
        Assert.True(code == 0, stdout + stderr);
        using var file = SafeTensorsFile.Open(output);
        Assert.Equal("F32", file.Entries["logits"].DType);
        Assert.Equal("F32", file.Entries["seq_loss"].DType);
        Assert.True(Reference.MaxAbsDiff(file.Read("logits"), reference["logits"]) <= 1e-4);
        Assert.True(Reference.MaxAbsDiff(file.Read("seq_loss"), reference["seq_loss"]) <= 1e-4);
    }

    [Theory]
    [InlineData("gpt2-tiny", "--greedy")]
    [InlineData("llama-tiny", "--greedy")]
    [InlineData("llama-tiny", "--no-cache")]
    public void Generate_prints_the_greedy_ids_of_transformers_on_its_first_line(string name, string flag)
    {
        using var reference = new Reference(name);
        var prompt = reference.Row("greedy_prompt", 0);
        var expected = reference.Row("greedy_ids", 0)[prompt.Length..];
        var (code, stdout, stderr) = TestPaths.RunLwf("generate", "--model", reference.Dir,
            "--prompt-ids", string.Join(",", prompt), "--max-new-tokens", expected.Length.ToString(), flag);
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(string.Join(" ", expected), stdout.Split('\n')[0].Trim());
    }

    [Fact]
    public void Model_export_writes_the_dtype_asked_for_and_never_into_a_folder_that_holds_anything()
    {
        using var reference = new Reference("gpt2-tiny");
        string dir = TestPaths.NewTempDir(), exported = Path.Combine(dir, "bf16");
        var (code, stdout, stderr) = TestPaths.RunLwf("model", "export", "--model", reference.Dir, "--out", exported, "--dtype", "bfloat16");
        Assert.True(code == 0, stdout + stderr);
        using (var file = SafeTensorsFile.Open(Path.Combine(exported, PretrainedModel.WeightsFile)))
            Assert.All(file.Entries.Values, e => Assert.Equal("BF16", e.DType));
        Assert.Contains("\"dtype\": \"bfloat16\"", File.ReadAllText(Path.Combine(exported, "config.json")));
        using (var lm = PretrainedModel.Load(exported))
        using (TorchSharp.torch.no_grad())
            Assert.True(Reference.MaxAbsDiff(lm.Forward(reference["input_ids"], reference["attention_mask"]), reference["logits"]) <= 1.0 / 32);

        // An existing folder with anything in it (here: the model itself) is refused and left as it was.
        var before = File.ReadAllBytes(Path.Combine(reference.Dir, PretrainedModel.WeightsFile));
        (code, _, stderr) = TestPaths.RunLwf("model", "export", "--model", reference.Dir, "--out", reference.Dir, "--dtype", "bfloat16");
        Assert.Equal(2, code);
        Assert.Contains("--out exists and is not empty", stderr);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(reference.Dir, PretrainedModel.WeightsFile)));
    }

    [Fact]
    public void Model_info_names_architecture_parameters_and_dtype()
    {
        var (code, stdout, _) = TestPaths.RunLwf("model", "info", "--model", TestPaths.Fixture("llama-tiny"));
        Assert.Equal(0, code);
        Assert.Contains("LlamaForCausalLM", stdout);
        Assert.Contains("parameters: 202,048", stdout); // embeddings and head 2·1000·64, two layers of 36,992, final norm 64
        Assert.Contains("dtype: float32", stdout);
    }

    [Fact]
    public void A_bad_input_is_one_line_on_stderr_and_exit_code_2()
    {
        var (code, stdout, stderr) = TestPaths.RunLwf("model", "info", "--model", "/nonexistent/model");
        Assert.Equal(2, code);
        Assert.Equal("error: /nonexistent/model: model folder not found", stderr.Trim());
        Assert.DoesNotContain("   at ", stdout + stderr);
    }

    [Theory]
    [InlineData(new[] { "trian" }, "error: unknown command 'trian'; did you mean 'train'? (see `lwf --help`)")]
    [InlineData(new[] { "train", "job.yaml", "--ouput", "x" }, "error: unknown option '--ouput'; did you mean '--out'? (see `lwf train --help`)")]
    [InlineData(new[] { "model", "infoo" }, "error: unknown command 'infoo'; did you mean 'info'? (see `lwf model --help`)")]
    [InlineData(new[] { "results", "some-job" }, "error: Option '--out' is required (see `lwf results --help`)")]
    public void A_command_line_mistake_is_one_error_line_with_the_nearest_name_and_exit_code_2(string[] args, string expected)
    {
        var (code, stdout, stderr) = TestPaths.RunLwf(args);
        Assert.Equal(2, code);
        Assert.Equal(expected, stderr.Trim());
        Assert.Equal("", stdout.Trim()); // no help unless asked for
    }

    [Fact]
    public void Help_is_printed_when_asked_for()
    {
        var (code, stdout, _) = TestPaths.RunLwf("train", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--resume", stdout);
    }
}
