using Lwf.Core.IO;
using System.CommandLine;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Models;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Cli.Commands;

/// <summary>`lwf model info`, `lwf model logits` and `lwf model export`.</summary>
internal static class ModelCommands
{
    public static Command Build()
    {
        var command = new Command("model", "Inspect a model and run it on token ids");
        command.Subcommands.Add(Info());
        command.Subcommands.Add(Logits());
        command.Subcommands.Add(Export());
        command.Subcommands.Add(Init());
        return command;
    }

    private static Command Info()
    {
        var model = CommonOptions.Model();
        var command = new Command("info", "Architecture, parameter count and dtype of a model folder") { model };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string dir = parse.GetValue(model)!;
            using var lm = PretrainedModel.Load(dir);
            var c = lm.Config;
            Console.WriteLine($"architecture: {(c.Json["architectures"] is System.Text.Json.Nodes.JsonArray { Count: > 0 } a && a[0]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? a[0]!.GetValue<string>() : c.ModelType)} ({c.ModelType})");
            Console.WriteLine($"parameters: {lm.ParameterCount:N0}");
            Console.WriteLine($"dtype: {DTypes.ToConfigName(lm.WeightDType)}");
            Console.WriteLine($"layers: {c.NumLayers}, hidden: {c.HiddenSize}, heads: {c.NumHeads} (key-value heads: {c.NumKeyValueHeads}), head dim: {c.HeadDim}");
            Console.WriteLine($"vocabulary: {c.VocabSize}, positions: {c.MaxPositions}, tied embeddings: {(c.TieWordEmbeddings ? "yes" : "no")}");
            Console.WriteLine($"weights: {(PretrainedModel.HasWeights(dir) ? "loaded from the folder" : $"random (none in the folder; its config asks for them: {ModelConfig.RandomInitKey})")}");
            return 0;
        }));
        return command;
    }

    private static Command Logits()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var input = new Option<string>("--input") { Description = "safetensors with int64 input_ids [B,T] and optional attention_mask [B,T]", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors to write: float32 logits [B,T,V] and seq_loss [B]", Required = true };
        var command = new Command("logits", "Run the model on token ids; write logits and per-row loss") { model, input, output, device, dtype, bf16 };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            string inPath = parse.GetValue(input)!;
            using var file = SafeTensorsFile.Open(inPath);
            if (!file.Entries.ContainsKey("input_ids")) throw new LwfInputException($"{inPath}: no tensor named 'input_ids'");
            using var scope = NewDisposeScope();
            var ids = file.Read("input_ids");
            if (ids.dtype != ScalarType.Int64) throw new LwfInputException($"{inPath}: input_ids must be int64 (I64), got {ids.dtype}");
            Tensor? mask = null;
            if (file.Entries.ContainsKey("attention_mask"))
            {
                mask = file.Read("attention_mask").to(ScalarType.Int64);
                if (!mask.shape.SequenceEqual(ids.shape))
                    throw new LwfInputException($"{inPath}: attention_mask [{string.Join(",", mask.shape)}] must have input_ids' shape [{string.Join(",", ids.shape)}]");
            }
            var dev = lm.Device;
            using var _ = no_grad();
            var logits = lm.Forward(ids.to(dev), mask?.to(dev));
            var targetMask = (mask ?? ones_like(ids)).to(dev).to(ScalarType.Bool);
            var seqLoss = TokenLoss.PerRowMean(logits, ids.to(dev), targetMask);
            SafeTensorsFile.Write(parse.GetValue(output)!, [("logits", logits), ("seq_loss", seqLoss)]);
            Console.WriteLine($"wrote logits [{string.Join(",", logits.shape)}] and seq_loss [{seqLoss.shape[0]}] to {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// A trained model (float32 masters after a bf16 mixed-precision run) written in the dtype asked for, as
    /// <c>model.to(torch.bfloat16).save_pretrained(out)</c> would: config.json says the new dtype.
    /// </summary>
    private static Command Export()
    {
        var model = CommonOptions.Model();
        var output = new Option<string>("--out") { Description = "folder to write (must not exist, or be empty)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "float32, bfloat16 or float16", Required = true };
        var command = new Command("export", "Write a model folder in another dtype (Hugging Face format, tokenizer files along)") { model, output, dtype };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string from = Path.GetFullPath(parse.GetValue(model)!), to = Path.GetFullPath(parse.GetValue(output)!);
            // The write replaces its target folder whole: never one that holds anything (the model itself, above all).
            if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
                throw new LwfInputException($"{to}: --out exists and is not empty; export writes a new folder");
            if (File.Exists(to)) throw new LwfInputException($"{to}: --out is a file; export writes a folder");
            var target = DTypes.FromConfigName(parse.GetValue(dtype)!);
            using var lm = PretrainedModel.Load(from, dtype: target);
            PretrainedModel.Save(lm, to, companionsFrom: from);
            Console.WriteLine($"wrote {to}: {lm.ParameterCount:N0} parameters in {DTypes.ToConfigName(target)}");
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The one way to get random weights: a folder whose config asks for them by name. No weights are written (a
    /// GPT-2-small's would be 500 MB of noise): a job draws them from its own seed, and its report says so.
    /// </summary>
    private static Command Init()
    {
        var from = new Option<string>("--from") { Description = "a config.json, or a model folder (its config.json; its tokenizer files come along)", Required = true };
        var output = new Option<string>("--out") { Description = "folder to write (must not exist, or be empty)", Required = true };
        var command = new Command("init", $"Make a model folder of random weights by name: its config asks for them ({ModelConfig.RandomInitKey}); each job seeds them")
        {
            from, output,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string source = Path.GetFullPath(parse.GetValue(from)!), to = Path.GetFullPath(parse.GetValue(output)!);
            string sourceDir = Directory.Exists(source) ? source : Path.GetDirectoryName(source)!;
            string configFile = Directory.Exists(source) ? Path.Combine(source, ModelConfig.FileName) : source;
            if (!File.Exists(configFile)) throw new LwfInputException($"{configFile}: not found (--from names a config.json or a model folder)");
            if (Directory.Exists(to) && Directory.EnumerateFileSystemEntries(to).Any())
                throw new LwfInputException($"{to}: --out exists and is not empty; init writes a new folder");
            if (File.Exists(to)) throw new LwfInputException($"{to}: --out is a file; init writes a folder");
            var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configFile)) as System.Text.Json.Nodes.JsonObject
                ?? throw new LwfInputException($"{configFile}: expected a JSON object");
            json[ModelConfig.RandomInitKey] = true;
            var config = ModelConfig.Parse(json, configFile); // the shape is checked before anything is written
            Directory.CreateDirectory(to);
            AtomicFile.WriteText(Path.Combine(to, ModelConfig.FileName), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            if (Path.GetFileName(configFile) == ModelConfig.FileName) PretrainedModel.CopyCompanions(sourceDir, to);
            Console.WriteLine($"wrote {to}: a {config.ModelType} config that asks for random weights ({ModelConfig.RandomInitKey}: true); each job draws them from its seed");
            return 0;
        }));
        return command;
    }
}
