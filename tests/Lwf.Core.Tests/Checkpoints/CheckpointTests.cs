using Lwf.Core.Checkpoints;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Tests.Checkpoints;

public sealed class CheckpointTests
{
    public static TheoryData<string> Models => new() { "gpt2-tiny", "llama-tiny" };

    [Theory, MemberData(nameof(Models))]
    public void Save_then_load_is_bit_identical(string name)
    {
        using var original = PretrainedModel.Load(TestPaths.Fixture(name));
        string dir = Path.Combine(TestPaths.NewTempDir(), "saved");
        PretrainedModel.Save(original, dir, companionsFrom: TestPaths.Fixture(name));
        using var reloaded = PretrainedModel.Load(dir);
        var a = original.named_parameters().ToList();
        var b = reloaded.named_parameters().ToList();
        Assert.Equal(a.Select(p => p.name), b.Select(p => p.name));
        foreach (var ((n, p), (_, q)) in a.Zip(b))
            Assert.True(p.bytes.SequenceEqual(q.bytes), $"{n} differs after save and load");
        // Saving the reloaded model again writes the same bytes.
        string again = Path.Combine(TestPaths.NewTempDir(), "again");
        PretrainedModel.Save(reloaded, again);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model.safetensors")), File.ReadAllBytes(Path.Combine(again, "model.safetensors")));
    }

    [Theory, MemberData(nameof(Models))]
    public void A_saved_checkpoint_has_the_names_shapes_dtypes_and_metadata_transformers_wrote(string name)
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture(name));
        string dir = Path.Combine(TestPaths.NewTempDir(), "saved");
        PretrainedModel.Save(model, dir, companionsFrom: TestPaths.Fixture(name));
        using var theirs = SafeTensorsFile.Open(Path.Combine(TestPaths.Fixture(name), "model.safetensors"));
        using var ours = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        Assert.Equal(theirs.Entries.Keys.Order(), ours.Entries.Keys.Order());
        foreach (var (key, entry) in theirs.Entries)
        {
            Assert.Equal(entry.DType, ours.Entries[key].DType);
            Assert.Equal(entry.Shape, ours.Entries[key].Shape);
            Assert.True(ours.Read(key).bytes.SequenceEqual(theirs.Read(key).bytes), $"{key} bytes differ");
        }
        Assert.Equal("pt", ours.Metadata["format"]);
        Assert.True(File.Exists(Path.Combine(dir, "config.json")));
        Assert.True(File.Exists(Path.Combine(dir, "generation_config.json")));
        Assert.Equal(model.Config.VocabSize, ModelConfig.Load(dir).VocabSize);
    }

    [Fact]
    public void A_sharded_checkpoint_saves_with_an_index_and_loads_back_identically()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("llama-tiny"));
        string dir = Path.Combine(TestPaths.NewTempDir(), "sharded");
        PretrainedModel.Save(model, dir, maxShardBytes: 300_000);
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
        Assert.True(Directory.GetFiles(dir, "model-*-of-*.safetensors").Length >= 2);
        using var reloaded = PretrainedModel.Load(dir);
        foreach (var ((n, p), (_, q)) in model.named_parameters().Zip(reloaded.named_parameters()))
            Assert.True(p.bytes.SequenceEqual(q.bytes), n);
    }

    [Fact]
    public void The_files_a_model_folder_is_read_from_are_its_config_weights_and_tokenizer_and_nothing_else()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("llama-tiny"));
        string sharded = Path.Combine(TestPaths.NewTempDir(), "sharded"), single = Path.Combine(TestPaths.NewTempDir(), "single");
        PretrainedModel.Save(model, sharded, maxShardBytes: 300_000);
        PretrainedModel.Save(model, single);
        foreach (string dir in new[] { sharded, single })
        {
            // What a hub folder holds besides: other frameworks' copies of the weights, a README.
            foreach (string other in new[] { "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "README.md" }) File.WriteAllText(Path.Combine(dir, other), "x");
            File.WriteAllText(Path.Combine(dir, "vocab.json"), "{}");
            File.WriteAllText(Path.Combine(dir, "merges.txt"), "");
        }
        var shards = Directory.GetFiles(sharded, "model-*-of-*.safetensors").Order(StringComparer.Ordinal).Select(Path.GetFileName);
        Assert.Equal(["config.json", "model.safetensors.index.json", .. shards, "generation_config.json", "vocab.json", "merges.txt"],
            PretrainedModel.FilesRead(sharded).Select(Path.GetFileName));
        Assert.Equal(["config.json", "model.safetensors", "generation_config.json", "vocab.json", "merges.txt"], PretrainedModel.FilesRead(single).Select(Path.GetFileName));
    }

    [Fact]
    public void Bfloat16_weights_save_and_load_as_bfloat16()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"), dtype: ScalarType.BFloat16);
        string dir = Path.Combine(TestPaths.NewTempDir(), "bf16");
        PretrainedModel.Save(model, dir);
        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            Assert.All(file.Entries.Values, e => Assert.Equal("BF16", e.DType));
        Assert.Equal("bfloat16", ModelConfig.Load(dir).Json["dtype"]!.GetValue<string>());
        using var reloaded = PretrainedModel.Load(dir);
        Assert.Equal(ScalarType.BFloat16, reloaded.ComputeDType);
        foreach (var ((n, p), (_, q)) in model.named_parameters().Zip(reloaded.named_parameters()))
            Assert.True(p.bytes.SequenceEqual(q.bytes), n);
        // bf16 logits stay close to the float32 reference (bf16 keeps ~3 significant digits).
        using var reference = new Reference("gpt2-tiny");
        using var _ = no_grad();
        var logits = reloaded.Forward(reference["input_ids"], reference["attention_mask"]);
        Assert.True(Reference.MaxAbsDiff(logits, reference["logits"]) < 0.05);
    }

    [Fact]
    public void A_config_without_weights_is_refused_unless_it_asks_for_seeded_random_weights_by_name()
    {
        string plain = TestPaths.NewTempDir();
        File.Copy(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "config.json"), Path.Combine(plain, "config.json"));
        var error = Assert.Throws<LwfInputException>(() => PretrainedModel.Load(plain));
        Assert.Contains($"{plain}: no weights (looked for model.safetensors and model.safetensors.index.json)", error.Message);
        Assert.Contains("`lwf model init --from", error.Message);

        string dir = Path.Combine(TestPaths.NewTempDir(), "random");
        var source = File.ReadAllBytes(Path.Combine(plain, "config.json"));
        var (code, stdout, stderr) = TestPaths.RunLwf("model", "init", "--from", plain, "--out", dir);
        Assert.True(code == 0, stdout + stderr);
        Assert.True(ModelConfig.Load(dir).RandomInit);
        Assert.Equal(source, File.ReadAllBytes(Path.Combine(plain, "config.json"))); // the source is left as it was
        (code, _, stderr) = TestPaths.RunLwf("model", "init", "--from", plain, "--out", dir);
        Assert.Equal(2, code);
        Assert.Contains("--out exists and is not empty", stderr);
        using var a = PretrainedModel.Load(dir, initSeed: 3);
        using var b = PretrainedModel.Load(dir, initSeed: 3);
        using var c = PretrainedModel.Load(dir, initSeed: 4);
        Assert.False(PretrainedModel.HasWeights(dir));
        var pa = a.named_parameters().First(p => p.name == "transformer.wte.weight").parameter;
        Assert.True(pa.bytes.SequenceEqual(b.named_parameters().First(p => p.name == "transformer.wte.weight").parameter.bytes));
        Assert.False(pa.bytes.SequenceEqual(c.named_parameters().First(p => p.name == "transformer.wte.weight").parameter.bytes));
        Assert.InRange(pa.std().item<float>(), 0.015, 0.025); // initializer_range 0.02
    }

    [Fact]
    public void Saving_over_an_existing_model_replaces_it_whole()
    {
        using var model = PretrainedModel.Load(TestPaths.Fixture("gpt2-tiny"));
        string dir = Path.Combine(TestPaths.NewTempDir(), "model");
        PretrainedModel.Save(model, dir);
        File.WriteAllText(Path.Combine(dir, "stale.txt"), "from an older save");
        PretrainedModel.Save(model, dir);
        Assert.False(File.Exists(Path.Combine(dir, "stale.txt")));
        Assert.Equal([dir], Directory.GetDirectories(Path.GetDirectoryName(dir)!));
    }
}
