using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// Bad inputs as a careless or hostile user gives them, each through `lwf train` and `lwf submit` (a silo process
/// whose data root holds them): exit 2, exactly one `error:` line that names what is wrong, no stack trace, and
/// every file of the user's as it was (the test snapshots the case folder and the output folder).
/// </summary>
public sealed class BadInputTests
{
    /// <summary>A bad input: what to break in a copy of a good job folder, and what the error must name.</summary>
    public sealed record Case(string Name, Action<string> Break, string Names, string[]? TrainArgs = null, bool Submit = true)
    {
        public override string ToString() => Name;
    }

    private static string Job(string dir) => Path.Combine(dir, "job.yaml");

    private static void Edit(string path, Func<string, string> change) => File.WriteAllText(path, change(File.ReadAllText(path)));

    /// <summary>Replaces a line of the job file that must be there.</summary>
    private static Action<string> JobLine(string find, string replace) => dir => Edit(Job(dir), text =>
    {
        Assert.Contains(find, text);
        return text.Replace(find, replace);
    });

    private static Action<string> JobAppend(string text) => dir => File.AppendAllText(Job(dir), "\n" + text + "\n");

    private static Action<string> Config(Action<JsonObject> change) => dir =>
    {
        string path = Path.Combine(dir, "model", "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        change(config);
        File.WriteAllText(path, config.ToJsonString());
    };

    /// <summary>Rewrites model.safetensors with its header changed (the data left as it is, or changed too).</summary>
    private static Action<string> Weights(Func<JsonObject, byte[], string?> change) => dir =>
    {
        string path = Path.Combine(dir, "model", "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject();
        var data = bytes[(8 + (int)headerLength)..];
        string text = change(header, data) ?? header.ToJsonString();
        var headerBytes = Encoding.UTF8.GetBytes(text);
        using var file = File.Create(path);
        var length = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, headerBytes.Length);
        file.Write(length);
        file.Write(headerBytes);
        file.Write(data);
    };

    /// <summary>The first float32 tensor of the header.</summary>
    private static (string Name, JsonObject Entry) FirstF32(JsonObject header) =>
        header.Where(p => p.Key != "__metadata__" && p.Value!["dtype"]!.GetValue<string>() == "F32").Select(p => (p.Key, p.Value!.AsObject())).First();

    private static Action<string> Jsonl(string file, Func<List<string>, List<string>> change) => dir =>
    {
        string path = Path.Combine(dir, file);
        File.WriteAllLines(path, change(File.ReadAllLines(path).ToList()));
    };

    public static List<Case> Cases() =>
    [
        // Job files: keys, types, ranges.
        new("an unknown key", JobAppend("colour: blue"), "colour"),
        new("a mistyped key", JobLine("portion: 0.25", "portoin: 0.25"), "portoin"),
        new("a name from before the Hugging Face names", JobLine("learning_rate: 3.0e-3", "learningRate: 3.0e-3"), "'train.learningRate' was renamed to 'train.learning_rate'"),
        new("bf16 that is neither true nor false", JobLine("max_steps: 12", "max_steps: 12\n  bf16: sometimes"), "train.bf16"),
        new("an integer that is a word", JobLine("max_steps: 12", "max_steps: twelve"), "train.max_steps"),
        new("a NaN learning rate", JobLine("learning_rate: 3.0e-3", "learning_rate: NaN"), "learning_rate"),
        new("a learning rate of 5", JobLine("learning_rate: 3.0e-3", "learning_rate: 5"), "learning rate"),
        new("an infinite weight decay", JobLine("learning_rate: 3.0e-3", "learning_rate: 3.0e-3\n  weight_decay: .inf"), "weight_decay"),
        new("an alpha of 1e300", JobLine("alpha: 0.5", "alpha: 1e300"), "alpha"),
        new("a NaN forgetting fraction", JobLine("forget_fraction: 0.3", "forget_fraction: NaN"), "forget_fraction"),
        new("negative new tokens", JobLine("max_new_tokens: 8", "max_new_tokens: -3"), "max new tokens"),
        new("a NaN top-p", JobLine("max_new_tokens: 8", "max_new_tokens: 8\n  top_p: NaN"), "top_p"),
        new("an evaluation batch of 0", JobLine("max_new_tokens: 6", "max_new_tokens: 6\n  batch_size: 0"), "eval.batch_size"),
        new("a micro-batch of 0", JobLine("per_device_train_batch_size: 1", "per_device_train_batch_size: 0"), "micro-batch size"),
        new("gradient accumulation of 0", JobLine("gradient_accumulation_steps: 8", "gradient_accumulation_steps: 0"), "gradient accumulation"),
        new("keeping no checkpoint", JobLine("save_total_limit: 2", "save_total_limit: 0"), "train.save_total_limit"),
        new("a negative checkpoint interval", JobLine("save_steps: 4", "save_steps: -1"), "train.save_steps"),
        new("a portion of 0", JobLine("portion: 0.25", "portion: 0"), "forgetting.portion"),
        new("a knob of the forgetting optimizer that is gone", JobLine("portion: 0.25", "forget_every: 3"), "forgetting.portion"),
        new("an unknown scorer", JobLine("scorer: fisher", "scorer: fisherr"), "scorer"),
        new("an unknown arrangement", JobLine("arrange: interleave", "arrange: sometimes"), "arrange"),
        new("an unknown gradient precision", JobLine("gradient_precision: float64", "gradient_precision: float16"), "gradient_precision"),
        new("a maximum length of 0", JobLine("max_length: 48", "max_length: 0"), "max_length"),
        new("a seed that is not a number", JobLine("seed: 42", "seed: forty-two"), "train.seed"),
        // Job files: shape of the YAML itself.
        new("a complex mapping key", JobAppend("? [a, b]\n: 1"), "job.yaml"),
        new("YAML nested 200,000 deep", dir => File.AppendAllText(Job(dir), "\ndeep: " + new string('[', 200_000) + new string(']', 200_000) + "\n"), "job.yaml"),
        new("a job file of 3 MiB", dir => File.AppendAllText(Job(dir), "\n# " + new string('x', 3 << 20) + "\n"), "job.yaml"),
        new("a tab for indentation", JobLine("  max_steps: 12", "\tmax_steps: 12"), "job.yaml"),
        new("an empty job file", dir => File.WriteAllText(Job(dir), ""), "job.yaml"),
        new("a list instead of a mapping", dir => File.WriteAllText(Job(dir), "- model\n- data\n"), "job.yaml"),
        new("a key given twice", JobAppend("max_length: 40"), "max_length"),
        new("no model", JobLine("model: model", "# no model"), "model"),
        new("a model folder that is not there", JobLine("model: model", "model: no-such-model"), "no-such-model"),
        new("a data file that is not there", JobLine("learn_train: learn-train.jsonl", "learn_train: no-such.jsonl"), "no-such.jsonl"),
        // Model folders.
        new("a garbled config.json", dir => File.WriteAllText(Path.Combine(dir, "model", "config.json"), "{\"n_layer\": 2,"), "config.json"),
        new("n_head 0", Config(c => c["n_head"] = 0), "n_head"),
        new("a width heads do not divide", Config(c => c["n_embd"] = 30), "n_embd"),
        new("a negative vocabulary", Config(c => c["vocab_size"] = -5), "vocab_size"),
        new("an architecture not supported", Config(c => { c["model_type"] = "bert"; c["architectures"] = new JsonArray("BertModel"); }), "config.json"),
        new("truncated weights", dir =>
        {
            string path = Path.Combine(dir, "model", "model.safetensors");
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..(int)(new FileInfo(path).Length / 2)]);
        }, "model.safetensors"),
        new("a header length of 2^60", dir =>
        {
            string path = Path.Combine(dir, "model", "model.safetensors");
            var bytes = File.ReadAllBytes(path);
            BinaryPrimitives.WriteInt64LittleEndian(bytes, 1L << 60);
            File.WriteAllBytes(path, bytes);
        }, "model.safetensors"),
        new("a shape whose size overflows", Weights((header, _) => { FirstF32(header).Entry["shape"] = new JsonArray(1L << 62, 1L << 62); return null; }), "model.safetensors"),
        new("a tensor named twice", Weights((header, _) =>
        {
            var (name, entry) = FirstF32(header);
            string text = header.ToJsonString();
            return text[..^1] + $",\"{name}\":{entry.ToJsonString()}}}";
        }), "model.safetensors"),
        new("float weights labelled I32", Weights((header, _) => { FirstF32(header).Entry["dtype"] = "I32"; return null; }), "model.safetensors"),
        new("NaN weights", Weights((header, data) =>
        {
            var offsets = FirstF32(header).Entry["data_offsets"]!.AsArray();
            for (long i = offsets[0]!.GetValue<long>(); i < offsets[1]!.GetValue<long>(); i += 4) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)i), float.NaN);
            return null;
        }), "model.safetensors"),
        new("a tensor missing", Weights((header, _) => { header.Remove(FirstF32(header).Name); return null; }), "model.safetensors"),
        // JSONL.
        new("a learning record that is not JSON", Jsonl("learn-train.jsonl", lines => { lines[2] = "{\"prompt\": \"unterminated"; return lines; }), "learn-train.jsonl"),
        new("an answer of 1.5", Jsonl("learn-eval.jsonl", lines => { var o = JsonNode.Parse(lines[0])!.AsObject(); o["answer"] = 1.5; lines[0] = o.ToJsonString(); return lines; }), "learn-eval.jsonl"),
        new("an answer beyond the choices", Jsonl("learn-eval.jsonl", lines => { var o = JsonNode.Parse(lines[1])!.AsObject(); o["answer"] = 9; lines[1] = o.ToJsonString(); return lines; }), "learn-eval.jsonl"),
        new("choices that are not a list", Jsonl("learn-eval.jsonl", lines => { var o = JsonNode.Parse(lines[0])!.AsObject(); o["choices"] = "a or b"; lines[0] = o.ToJsonString(); return lines; }), "learn-eval.jsonl"),
        new("a learning record without a response", Jsonl("learn-train.jsonl", lines => { lines[0] = "{\"question\": \"what\"}"; return lines; }), "learn-train.jsonl"),
        new("an empty learning file", Jsonl("learn-train.jsonl", _ => []), "learn-train.jsonl"),
        new("token ids beyond the vocabulary", Jsonl("forget-prompts.jsonl", lines => { lines[0] = "{\"input_ids\": [1, 2, 99999999]}"; return lines; }), "forget-prompts.jsonl"),
        // The command line.
        new("a mistyped option", _ => { }, "--ouput", TrainArgs: ["train", "{job}", "--ouput", "x"], Submit: false),
        new("a mistyped command", _ => { }, "trian", TrainArgs: ["trian", "{job}", "--out", "{out}"], Submit: false),
        new("a learning-rate schedule transformers has not", _ => { }, "--lr-scheduler-type",
            TrainArgs: ["finetune", "--model", "{out}", "--data", "{job}", "--out", "{out}", "--lr-scheduler-type", "bogus"], Submit: false),
        new("bf16 mixed precision over weights loaded in bf16", _ => { }, "float32 master weights",
            TrainArgs: ["finetune", "--model", "{dir}/model", "--data", "{dir}/learn-train.jsonl", "--out", "{out}", "--bf16", "--dtype", "bfloat16"], Submit: false),
        new("a gateway port of 99999", _ => { }, "99999", TrainArgs: ["submit", "{job}", "--gateway", "127.0.0.1:99999"], Submit: false),
        new("a gateway nobody listens on", _ => { }, "127.0.0.1:9", TrainArgs: ["submit", "{job}", "--gateway", "127.0.0.1:9"], Submit: false),
    ];

    private static readonly Lazy<string> GoodFolder = new(() =>
    {
        string dir = Path.Combine(Lwf.NewTempDir(), "good");
        Directory.CreateDirectory(dir);
        string licenses = Path.Combine(Lwf.RepoRoot, "examples", "jobs", "licenses");
        foreach (var file in new[] { "learn-train.jsonl", "learn-eval.jsonl", "forget-prompts.jsonl", "forget-eval.jsonl", "held-out.jsonl" })
            File.Copy(Path.Combine(licenses, file), Path.Combine(dir, file));
        // A model with weights (the tiny BPE model's config alone means fresh weights): one fine-tuning step of it.
        var lwf = new Lwf(Lwf.NewTempDir());
        lwf.Ok("finetune", "--model", Path.Combine(Lwf.RepoRoot, "examples", "models", "gpt2-tiny-bpe"), "--data", Path.Combine(dir, "learn-train.jsonl"),
            "--out", Path.Combine(dir, "model"), "--steps", "1");
        string tiny = File.ReadAllText(Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml"))
            .Replace("../../examples/models/gpt2-tiny-bpe", "model").Replace("../../examples/jobs/licenses/", "");
        File.WriteAllText(Job(dir), tiny);
        return dir;
    });

    /// <summary>Every file under the folders, by path, with its SHA-256.</summary>
    private static Dictionary<string, string> Snapshot(params string[] dirs) =>
        dirs.SelectMany(d => Directory.EnumerateFiles(d, "*", SearchOption.AllDirectories))
            .ToDictionary(f => f, f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))));

    private static string CopyOf(string source, string to)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(to, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return to;
    }

    private static void AssertOneClearError((int ExitCode, string Stdout, string Stderr) result, Case c, string how)
    {
        string all = result.Stdout + result.Stderr;
        Assert.True(result.ExitCode == 2, $"{c.Name} ({how}): exit {result.ExitCode}\n{all}");
        var errors = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"{c.Name} ({how}): {errors.Count} error lines\n{all}");
        Assert.True(errors[0].Contains(c.Names, StringComparison.Ordinal), $"{c.Name} ({how}): the error does not name '{c.Names}': {errors[0]}");
        Assert.False(all.Contains("   at ", StringComparison.Ordinal) || all.Contains("Exception", StringComparison.Ordinal), $"{c.Name} ({how}): a stack trace\n{all}");
    }

    /// <summary>Every case in one cluster (starting one per case would take minutes each): train, then submit.</summary>
    [Fact]
    public void Every_bad_input_is_one_clear_error_through_train_and_submit_and_changes_no_file()
    {
        var cases = Cases();
        Assert.True(cases.Count >= 40, $"{cases.Count} cases");
        string root = Lwf.NewTempDir();
        var lwf = new Lwf(Lwf.NewTempDir());
        lwf.Ok("cluster", "up", "--silos", "1", "--data-root", root);
        var failures = new List<string>();
        try
        {
            foreach (var (c, index) in cases.Select((c, i) => (c, i)))
            {
                string dir = CopyOf(GoodFolder.Value, Path.Combine(root, $"case-{index}"));
                c.Break(dir);
                // An output folder the user already has: nothing in it may go.
                string outDir = Path.Combine(root, $"out-{index}");
                Directory.CreateDirectory(Path.Combine(outDir, "checkpoint-4"));
                File.WriteAllText(Path.Combine(outDir, "notes.txt"), "mine");
                File.WriteAllText(Path.Combine(outDir, "checkpoint-4", "manifest.json"), "{}");
                var before = Snapshot(dir, outDir);
                var args = (c.TrainArgs ?? ["train", "{job}", "--out", "{out}"]).Select(a => a.Replace("{job}", Job(dir)).Replace("{out}", outDir).Replace("{dir}", dir)).ToArray();
                try
                {
                    AssertOneClearError(lwf.Run(args), c, string.Join(' ', args.Take(1)));
                    if (c.Submit) AssertOneClearError(lwf.Run("submit", Job(dir)), c, "submit");
                    Assert.Equal(before, Snapshot(dir, outDir));
                }
                catch (Exception e) when (e is Xunit.Sdk.XunitException)
                {
                    failures.Add(e.Message);
                }
            }
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {cases.Count} cases:\n\n{string.Join("\n\n", failures)}");
    }

    [Fact]
    public void A_job_whose_loss_turns_non_finite_fails_naming_the_step_and_its_results_are_not_handed_out()
    {
        string root = Lwf.NewTempDir();
        string dir = CopyOf(GoodFolder.Value, Path.Combine(root, "nan"));
        // Finite weights, so the model loads and the job is accepted; embeddings at 1e37 overflow the first layer norm.
        Weights((header, data) =>
        {
            var offsets = header.Single(p => p.Key.EndsWith("wte.weight", StringComparison.Ordinal)).Value!["data_offsets"]!.AsArray();
            for (long i = offsets[0]!.GetValue<long>(); i < offsets[1]!.GetValue<long>(); i += 4) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)i), 1e37f);
            return null;
        })(dir);
        JobLine("arrange: interleave", "arrange: none")(dir); // plain fine-tuning: the first learning step meets the NaN
        var lwf = new Lwf(Lwf.NewTempDir());
        lwf.Ok("cluster", "up", "--silos", "2", "--data-root", root);
        try
        {
            string id = lwf.Ok("submit", Job(dir)).Trim().Split('\n')[^1];
            var watch = lwf.Run("watch", id);
            Assert.True(watch.ExitCode == 1, watch.Stdout + watch.Stderr);
            string status = lwf.Ok("status", id);
            Assert.True(status.Contains($"{id}: failed") && status.Contains("learning step 1"), status);
            var results = lwf.Run("results", id, "--out", Path.Combine(Lwf.NewTempDir(), "r"));
            Assert.Equal(2, results.ExitCode);
            Assert.StartsWith($"error: {id} is failed", results.Stderr.Trim());
        }
        finally
        {
            lwf.Run("cluster", "down");
        }
    }
}
