using System.CommandLine;
using Lwf.Core;
using Lwf.Core.Checkpoints;
using Lwf.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Cli.Commands;

/// <summary>`lwf model info` and `lwf model logits`.</summary>
internal static class ModelCommands
{
    public static Command Build()
    {
        var command = new Command("model", "Inspect a model and run it on token ids");
        command.Subcommands.Add(Info());
        command.Subcommands.Add(Logits());
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
            Console.WriteLine($"architecture: {c.Json["architectures"]?[0]?.GetValue<string>() ?? c.ModelType} ({c.ModelType})");
            Console.WriteLine($"parameters: {lm.ParameterCount:N0}");
            Console.WriteLine($"dtype: {DTypes.ToConfigName(lm.WeightDType)}");
            Console.WriteLine($"layers: {c.NumLayers}, hidden: {c.HiddenSize}, heads: {c.NumHeads} (key-value heads: {c.NumKeyValueHeads}), head dim: {c.HeadDim}");
            Console.WriteLine($"vocabulary: {c.VocabSize}, positions: {c.MaxPositions}, tied embeddings: {(c.TieWordEmbeddings ? "yes" : "no")}");
            Console.WriteLine($"weights: {(PretrainedModel.HasWeights(dir) ? "loaded from the folder" : "none in the folder (randomly initialised)")}");
            return 0;
        }));
        return command;
    }

    private static Command Logits()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var input = new Option<string>("--input") { Description = "safetensors with int64 input_ids [B,T] and optional attention_mask [B,T]", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors to write: float32 logits [B,T,V] and seq_loss [B]", Required = true };
        var command = new Command("logits", "Run the model on token ids; write logits and per-row loss") { model, input, output, device, dtype };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype);
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
}
