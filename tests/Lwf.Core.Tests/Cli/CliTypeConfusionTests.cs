using System.Text.Json.Nodes;
using Lwf.Core.Tests.Models;

namespace Lwf.Core.Tests.Cli;

/// <summary>
/// The type-confusion cases of <see cref="TypeConfusionTests"/> as a user meets them: through `lwf model info` and
/// `lwf train`, each case one command line. Every case exits 2 with one `error:` line (a key of config.json set to
/// JSON null may run: null is "not set"); no case prints a stack trace or exits any other way. Also every data path of
/// a job, and its model, given as a device file.
/// </summary>
[Collection(nameof(ConsoleCollection))]
public sealed class CliTypeConfusionTests
{
    public static readonly TheoryData<string> Models = new() { "gpt2-tiny", "llama-tiny" };

    /// <summary>Exit 2 and one `error:` line, or (where <paramref name="mayRun"/>) exit 0; never a stack trace.</summary>
    private static bool Refused(string what, (int ExitCode, string Stdout, string Stderr) run, bool mayRun)
    {
        string all = run.Stdout + run.Stderr;
        Assert.False(all.Contains("   at ", StringComparison.Ordinal) || all.Contains("Unhandled exception", StringComparison.Ordinal),
            $"{what}: a stack trace\n{all}");
        if (mayRun && run.ExitCode == 0) return false;
        var lines = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(run.ExitCode == 2 && lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal),
            $"{what}: exit {run.ExitCode}, stderr:\n{run.Stderr}");
        return true;
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Lwf_model_info_on_every_config_key_and_header_field_of_a_wrong_type_exits_2_with_one_error_line(string model)
    {
        string source = TestPaths.Fixture(model), dir = TestPaths.NewTempDir();
        foreach (string fixture in Directory.EnumerateFiles(source)) File.Copy(fixture, Path.Combine(dir, Path.GetFileName(fixture)));
        Assert.Equal(0, TestPaths.RunLwfHere("model", "info", "--model", dir).ExitCode);

        string configPath = Path.Combine(dir, "config.json");
        string originalConfig = File.ReadAllText(configPath);
        var config = JsonNode.Parse(originalConfig)!.AsObject();
        int cases = 0, refused = 0;
        foreach (var path in JsonMutations.KeyPaths(config, []).ToList())
        {
            var current = path.Aggregate((JsonNode?)config, (node, key) => node?[key]);
            foreach (var value in JsonMutations.WrongValues(current))
            {
                cases++;
                File.WriteAllText(configPath, JsonMutations.Mutated(config, path, value).ToJsonString());
                // A JSON null is "not set" (transformers reads it so): it may run, and so may a key the fixture leaves null
                // (its type is not known from the fixture: summary_activation is null or a string); every other wrong type is refused.
                if (Refused($"config.json {string.Join('.', path)} = {value?.ToJsonString() ?? "null"}", TestPaths.RunLwfHere("model", "info", "--model", dir),
                        mayRun: value is null || current is null))
                    refused++;
            }
        }
        File.WriteAllText(configPath, originalConfig);
        Assert.True(refused >= cases * 3 / 4, $"{refused} of {cases} wrong types refused");

        int fields = 0;
        foreach (var (tensor, field, value) in JsonMutations.HeaderMutations(Path.Combine(source, "model.safetensors"), Path.Combine(dir, "model.safetensors")))
        {
            fields++;
            Refused($"model.safetensors {tensor}.{field} = {value?.ToJsonString() ?? "null"}", TestPaths.RunLwfHere("model", "info", "--model", dir), mayRun: false);
        }
        Assert.True(fields > 50, $"only {fields} header cases");
    }

    [Fact]
    public void Lwf_train_with_a_device_file_as_each_data_path_or_as_the_model_exits_2_with_one_error_line()
    {
        string job = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml"));
        string dir = TestPaths.NewTempDir();
        string[] keys = ["model", "learn_train", "learn_eval", "forget_prompts", "forget_eval", "held_out"];
        foreach (string key in keys)
            foreach (string device in new[] { "/dev/zero", "/dev/null" })
            {
                // The job as the repository has it, its relative paths made absolute, one path swapped for the device.
                string text = string.Join('\n', job.Split('\n').Select(line =>
                {
                    string trimmed = line.TrimStart();
                    int colon = trimmed.IndexOf(':');
                    if (colon < 0 || !trimmed[(colon + 1)..].TrimStart().StartsWith("../", StringComparison.Ordinal)) return line;
                    string name = trimmed[..colon], indent = line[..(line.Length - trimmed.Length)];
                    string value = name == key ? device : Path.GetFullPath(Path.Combine(TestPaths.RepoRoot, "cluster", "jobs", trimmed[(colon + 1)..].Trim()));
                    return $"{indent}{name}: {value}";
                }));
                Assert.Contains($"{key}: {device}", text);
                string jobFile = Path.Combine(dir, $"{key}-{Path.GetFileName(device)}.yaml"), outDir = Path.Combine(dir, $"out-{key}-{Path.GetFileName(device)}");
                File.WriteAllText(jobFile, text);
                Refused($"{key}: {device}", TestPaths.RunLwfHere("train", jobFile, "--out", outDir), mayRun: false);
                Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{key}: {device}: --out was written to");
            }
    }
}
