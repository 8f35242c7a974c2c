using System.Text;
using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Checkpoints;

/// <summary>Each bad input is a clear LwfInputException naming the file, key or limit; nothing deep from TorchSharp.</summary>
public sealed class BadInputTests
{
    private static string ModelCopy(string fixture = "gpt2-tiny")
    {
        string dir = TestPaths.NewTempDir();
        foreach (var f in new[] { "config.json", "model.safetensors", "generation_config.json" })
            File.Copy(Path.Combine(TestPaths.Fixture(fixture), f), Path.Combine(dir, f));
        return dir;
    }

    private static LwfInputException LoadFails(string dir) => Assert.Throws<LwfInputException>(() => PretrainedModel.Load(dir));

    [Fact]
    public void Missing_config()
    {
        string dir = ModelCopy();
        File.Delete(Path.Combine(dir, "config.json"));
        Assert.Contains("config.json: not found", LoadFails(dir).Message);
    }

    [Fact]
    public void Garbled_config()
    {
        string dir = ModelCopy();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"model_type\": \"gpt2\",\n \"n_embd\": 64,,}");
        Assert.Matches(@"config\.json: not valid JSON \(line 2\)", LoadFails(dir).Message);
    }

    [Fact]
    public void Config_missing_a_key_or_with_a_wrong_type()
    {
        string dir = ModelCopy();
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"n_layer\": 2,", ""));
        Assert.Contains("missing key 'n_layer'", LoadFails(dir).Message);
        dir = ModelCopy();
        path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"n_head\": 4", "\"n_head\": \"four\""));
        Assert.Contains("key 'n_head' must be an integer, got \"four\"", LoadFails(dir).Message);
    }

    [Fact]
    public void Unsupported_architecture()
    {
        string dir = ModelCopy();
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"model_type\": \"gpt2\"", "\"model_type\": \"t5\""));
        Assert.Contains("model_type 't5' is not supported", LoadFails(dir).Message);
    }

    [Fact]
    public void A_header_that_lies_about_sizes()
    {
        string dir = ModelCopy();
        string path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength);
        // Same length, different claim: ln_f.bias says 65 elements while its offsets cover 64.
        string lying = header.Replace("\"transformer.ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[64]", "\"transformer.ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[65]");
        Assert.NotEqual(header, lying);
        Encoding.UTF8.GetBytes(lying).CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var message = LoadFails(dir).Message;
        Assert.Contains("transformer.ln_f.bias", message);
        Assert.Contains("260 bytes, but data_offsets span 256", message);
    }

    [Fact]
    public void A_truncated_file()
    {
        string dir = ModelCopy();
        string path = Path.Combine(dir, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 1000)]);
        Assert.Contains("truncated", LoadFails(dir).Message);
        File.WriteAllBytes(path, bytes[..20]);
        Assert.Contains("truncated", LoadFails(dir).Message);
        File.WriteAllBytes(path, bytes[..4]);
        Assert.Contains("not a safetensors file", LoadFails(dir).Message);
    }

    [Fact]
    public void A_checkpoint_missing_a_tensor_or_with_a_wrong_shape()
    {
        string dir = ModelCopy("llama-tiny");
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"intermediate_size\": 128", "\"intermediate_size\": 96"));
        Assert.Contains("'model.layers.0.mlp.gate_proj.weight' has shape [128,64] but the config gives [96,64]", LoadFails(dir).Message);
        dir = ModelCopy("llama-tiny");
        path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"));
        Assert.Contains("lacks", LoadFails(dir).Message);
    }

    [Fact]
    public void A_token_id_at_or_beyond_the_vocabulary()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        var ids = tensor(new long[] { 1, 2, 1000 }, [1, 3], ScalarType.Int64);
        var error = Assert.Throws<LwfInputException>(() => model.Forward(ids));
        Assert.Equal("token id 1000 is outside the vocabulary 0..999 (vocab_size 1000)", error.Message);
        var (code, _, stderr) = TestPaths.RunLwf("generate", "--model", TestPaths.Fixture("gpt2-tiny"), "--prompt-ids", "5,1000", "--max-new-tokens", "2");
        Assert.Equal(2, code);
        Assert.Contains("token id 1000 is outside the vocabulary", stderr);
    }

    [Fact]
    public void A_sequence_longer_than_the_model_positions()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        var ids = zeros([1, 65], ScalarType.Int64);
        Assert.Contains("longer than the model's 64 positions", Assert.Throws<LwfInputException>(() => model.Forward(ids)).Message);
    }
}
