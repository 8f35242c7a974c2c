using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Models;

namespace Lwf.Core.Tests.Models;

/// <summary>
/// Hostile model files: every key of the fixture models' config.json, and every field of every tensor in their
/// safetensors headers, set to each JSON type it does not have. Each is either read harmlessly (a key we do not use)
/// or refused with one <see cref="LwfInputException"/> that names the file and the key; nothing else may escape.
/// </summary>
public sealed class TypeConfusionTests
{
    public static readonly TheoryData<string> Models = new() { "gpt2-tiny", "llama-tiny" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_key_of_a_models_config_of_a_wrong_type_is_read_harmlessly_or_refused_naming_the_key(string model)
    {
        string source = TestPaths.Fixture(model);
        var original = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        string dir = TestPaths.NewTempDir();
        int cases = 0, refused = 0;
        foreach (var path in JsonMutations.KeyPaths(original, []).ToList())
        {
            var current = path.Aggregate((JsonNode?)original, (node, key) => node?[key]);
            foreach (var value in JsonMutations.WrongValues(current))
            {
                cases++;
                var json = JsonMutations.Mutated(original, path, value);
                File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
                string what = $"{string.Join('.', path)} = {value?.ToJsonString() ?? "null"}";
                try
                {
                    ModelConfig.Load(dir);
                }
                catch (LwfInputException e)
                {
                    refused++;
                    Assert.True(e.Message.Contains("config.json", StringComparison.Ordinal) && e.Message.Contains(path[^1], StringComparison.Ordinal) && !e.Message.Contains('\n'),
                        $"{what}: the error names neither the file nor the key, or takes several lines: {e.Message}");
                }
                catch (Exception e)
                {
                    Assert.Fail($"{what}: {e.GetType().Name} escaped: {e.Message}");
                }
            }
        }
        // The keys the model reads are refused (the fixtures' configs hold a few keys only transformers reads).
        Assert.True(refused >= cases / 2, $"{refused} of {cases} wrong types refused");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_field_of_a_safetensors_header_of_a_wrong_type_is_refused_naming_the_tensor_and_the_field(string model)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "model.safetensors");
        int cases = 0;
        foreach (var (tensor, field, value) in JsonMutations.HeaderMutations(Path.Combine(TestPaths.Fixture(model), "model.safetensors"), path))
        {
            cases++;
            var e = Assert.Throws<LwfInputException>(() => SafeTensorsFile.Open(path).Dispose());
            Assert.True(e.Message.Contains(tensor, StringComparison.Ordinal) && e.Message.Contains(field, StringComparison.Ordinal),
                $"{tensor}.{field} = {value?.ToJsonString() ?? "null"}: {e.Message}");
        }
        Assert.True(cases > 50, $"only {cases} cases");
    }

    [Fact]
    public void A_device_given_as_a_data_path_or_a_model_config_is_one_error_line_not_a_read_without_end()
    {
        Assert.Equal("is empty, or not a regular file (a device, a pipe)", InputFile.Problem("/dev/zero"));
        var e = Assert.Throws<LwfInputException>(() => Lwf.Core.Data.JsonlDataset.Parse("/dev/zero", o => o, skipBadLines: false, out _));
        Assert.Equal("/dev/zero: is empty, or not a regular file (a device, a pipe)", e.Message);
    }
}
