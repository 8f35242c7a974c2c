using Lwf.Core.IO;
using Lwf.Core.Jobs;
using System.CommandLine;
using Lwf.Core;
using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Generation;
using Lwf.Core.Text;

namespace Lwf.Cli.Commands;

/// <summary>The LWF stages, each usable alone: `lwf selfgen`, `lwf fisher`, `lwf confidence`.</summary>
internal static class ForgettingCommands
{
    public static IEnumerable<Command> Build() => [SelfGen(), Fisher(), Confidence()];

    private static Option<int?> MaxLength() => new("--max-length") { Description = "truncate records to this many tokens (default: the model's positions)" };

    private static Command SelfGen()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var prompts = new Option<string>("--prompts") { Description = "forgetting-task prompts, JSONL {prompt} / {text} / {input_ids}", Required = true };
        var output = new Option<string>("--out") { Description = "JSONL of {prompt, response, source, input_ids, loss_mask}", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 32, Description = "tokens per answer at most" };
        var temperature = new Option<double?>("--temperature") { Description = "sample with this temperature (default: greedy)" };
        var topP = new Option<double?>("--top-p") { Description = "nucleus sampling" };
        var topK = new Option<int?>("--top-k") { Description = "top-k sampling" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42, Description = "sampling seed" };
        var samples = new Option<int>("--samples-per-prompt") { DefaultValueFactory = _ => 1, Description = "answers per prompt (needs sampling when > 1)" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 16, Description = "prompts per greedy batch" };
        var command = new Command("selfgen", "Let the base model answer the forgetting task's prompts")
        {
            model, prompts, output, maxNew, temperature, topP, topK, seed, samples, batch, device, dtype, bf16,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            var tokenizer = TextTokenizer.Load(parse.GetValue(model)!, lm.Config);
            var encoder = new RecordEncoder(tokenizer, lm.Config);
            var loaded = SelfGeneration.LoadPrompts(parse.GetValue(prompts)!, encoder);
            bool sampling = parse.GetValue(temperature) is not null || parse.GetValue(topP) is not null || parse.GetValue(topK) is not null;
            var options = new SelfGenerationOptions
            {
                Generation = new GenerationOptions
                {
                    MaxNewTokens = parse.GetValue(maxNew), Greedy = !sampling,
                    Temperature = parse.GetValue(temperature) ?? 1.0, TopP = parse.GetValue(topP) ?? 1.0, TopK = parse.GetValue(topK) ?? 0,
                    Seed = parse.GetValue(seed), StopTokenIds = GenerationConfig.StopTokenIds(parse.GetValue(model)!, lm.Config),
                },
                SamplesPerPrompt = parse.GetValue(samples),
                BatchSize = parse.GetValue(batch),
            };
            var progress = new ConsoleProgress();
            var generated = SelfGeneration.Generate(lm, tokenizer, loaded, options,
                progress: n => progress.Report(new(JobStage.SelfGeneration, n, (long)loaded.Count * options.SamplesPerPrompt)));
            progress.Done();
            SelfGeneration.Write(parse.GetValue(output)!, generated);
            Console.WriteLine($"wrote {generated.Count} self-generated samples to {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    private static Command Fisher()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var data = new Option<string>("--data") { Description = "learning-task records (JSONL)", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors: float32 fisher.NAME and grad_mean.NAME, count in the metadata", Required = true };
        var variant = new Option<FisherVariant>("--variant") { DefaultValueFactory = _ => FisherVariant.Empirical, Description = "empirical (data labels) or model (labels sampled from the model)" };
        var records = new Option<int>("--records") { DefaultValueFactory = _ => 0, Description = "use the first N records (0: all)" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42, Description = "seed for the model variant's label sampling" };
        var maxLength = MaxLength();
        var command = new Command("fisher", "Diagonal Fisher and mean gradient over learning records")
        {
            model, data, output, variant, records, seed, maxLength, device, dtype, bf16,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            var encoder = new RecordEncoder(TextTokenizer.Load(parse.GetValue(model)!, lm.Config), lm.Config, parse.GetValue(maxLength));
            var all = JsonlDataset.Load(parse.GetValue(data)!, encoder).Records;
            int n = parse.GetValue(records);
            if (n < 0) throw new LwfInputException($"--records must be ≥ 0, got {n}");
            var used = n == 0 ? all : all.Take(n).ToList();
            var progress = new ConsoleProgress();
            using var accumulator = FisherAccumulator.For(lm);
            accumulator.Accumulate(lm, used.Select((r, i) => (i, r)), parse.GetValue(variant), parse.GetValue(seed), k => progress.Report(new(JobStage.Fisher, k, used.Count)));
            progress.Done();
            using var estimate = accumulator.ToEstimate();
            estimate.Save(parse.GetValue(output)!, parse.GetValue(variant));
            Console.WriteLine($"wrote the Fisher of {estimate.Count} records ({estimate.Names.Count} tensors) to {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    private static Command Confidence()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var fisher = new Option<string?>("--fisher") { Description = "Fisher file from `lwf fisher` (needed by the fisher and inverse scorers)" };
        var data = new Option<string>("--data") { Description = "self-generated samples (JSONL)", Required = true };
        var output = new Option<string>("--out") { Description = "JSONL: each input record with its forget_confidence, in input order", Required = true };
        var scorer = new Option<ForgettingScorer>("--scorer") { DefaultValueFactory = _ => ForgettingScorer.Fisher, Description = "fisher, likelihood, random or inverse" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42, Description = "seed of the random scorer" };
        var maxLength = MaxLength();
        var command = new Command("confidence", "Score self-generated samples for forgetting")
        {
            model, fisher, data, output, scorer, seed, maxLength, device, dtype, bf16,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var kind = parse.GetValue(scorer);
            if (kind is ForgettingScorer.Fisher or ForgettingScorer.Inverse && parse.GetValue(fisher) is null)
                throw new LwfInputException($"--scorer {kind.ToString().ToLowerInvariant()} needs --fisher F.safetensors (from `lwf fisher`)");
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            var encoder = new RecordEncoder(TextTokenizer.Load(parse.GetValue(model)!, lm.Config), lm.Config, parse.GetValue(maxLength));
            string path = parse.GetValue(data)!;
            // One pass: each line kept as written (echoed back with its score) and as token ids.
            var lines = JsonlDataset.Parse(path, o => (Json: o, Record: JsonlDataset.Encode(o, encoder)), skipBadLines: false, out _);
            var originals = lines.Select(l => l.Json).ToList();
            var records = lines.Select(l => l.Record).ToList();
            using var estimate = parse.GetValue(fisher) is { } f ? FisherEstimate.Load(f, lm) : null;
            var progress = new ConsoleProgress();
            var scores = ForgettingConfidence.Score(lm, records, kind, estimate, parse.GetValue(seed), k => progress.Report(new(JobStage.Confidence, k, records.Count)));
            progress.Done();
            AtomicFile.WriteText(parse.GetValue(output)!, string.Concat(originals.Select((o, i) =>
            {
                o["forget_confidence"] = scores[i];
                return o.ToJsonString() + "\n";
            })));
            Console.WriteLine($"wrote {scores.Length} scores ({kind.ToString().ToLowerInvariant()}) to {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }
}
