using System.CommandLine;
using System.Diagnostics;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Jobs;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Cli.Commands;

/// <summary>`lwf finetune`: plain single-process fine-tuning on one JSONL dataset (no forgetting).</summary>
internal static class FinetuneCommand
{
    public static Command Build()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var data = new Option<string>("--data") { Description = "JSONL training records", Required = true };
        var output = new Option<string>("--out") { Description = "folder for the fine-tuned model (Hugging Face format)", Required = true };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 100, Description = "optimizer steps" };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 5e-5, Description = "peak learning rate" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 8, Description = "records per micro-batch" };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1, Description = "micro-batches per optimizer step" };
        var warmup = new Option<int>("--warmup") { DefaultValueFactory = _ => 0, Description = "linear warm-up steps before the decay" };
        var scheduler = new Option<string>("--lr-scheduler-type")
        {
            DefaultValueFactory = _ => "linear",
            Description = "the learning rate's schedule, transformers' names: linear (the Trainer's default), cosine, constant, constant_with_warmup",
        };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.0, Description = "AdamW weight decay (not on biases and norms)" };
        var clip = new Option<double>("--max-grad-norm") { DefaultValueFactory = _ => 1.0, Description = "clip the gradient norm to this (0: off)" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 42, Description = "seed for initialisation and data order" };
        var maxLength = new Option<int?>("--max-length") { Description = "truncate records to this many tokens (default: the model's positions)" };
        var skipBad = new Option<bool>("--skip-bad-lines") { Description = "skip and count malformed JSONL lines instead of stopping" };
        var command = new Command("finetune", "Fine-tune a model on a JSONL dataset in this process")
        {
            model, data, output, steps, lr, batch, accumulation, warmup, scheduler, weightDecay, clip, seed, maxLength, skipBad, device, dtype, bf16,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var options = new FineTuneOptions
            {
                Steps = parse.GetValue(steps), LearningRate = parse.GetValue(lr), MicroBatchSize = parse.GetValue(batch),
                GradientAccumulation = parse.GetValue(accumulation), WarmupSteps = parse.GetValue(warmup), Scheduler = SnakeCaseEnum.Parse<LearningRateScheduler>(parse.GetValue(scheduler)!)
                    ?? throw new Lwf.Core.LwfInputException($"--lr-scheduler-type must be one of {SnakeCaseEnum.Names<LearningRateScheduler>()}, got '{parse.GetValue(scheduler)}'"),
                WeightDecay = parse.GetValue(weightDecay), MaxGradNorm = parse.GetValue(clip), Seed = parse.GetValue(seed), Bf16 = parse.GetValue(bf16),
            };
            options.Validate();
            string modelDir = parse.GetValue(model)!;
            TorchSharp.torch.random.manual_seed(options.Seed);
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            var encoder = new RecordEncoder(TextTokenizer.Load(modelDir, lm.Config), lm.Config, parse.GetValue(maxLength));
            var dataset = JsonlDataset.Load(parse.GetValue(data)!, encoder, parse.GetValue(skipBad));
            if (dataset.SkippedLines.Count > 0)
                Console.Error.WriteLine($"skipped {dataset.SkippedLines.Count} bad line(s); first: {dataset.SkippedLines[0]}");
            Console.WriteLine($"{dataset.Records.Count} records, {lm.ParameterCount:N0} parameters, {options.Steps} steps of {options.GlobalBatchSize} records");
            long pad = lm.Config.PaddingId;
            using var tuner = new FineTuner(lm, options, pad);
            var clock = Stopwatch.StartNew();
            foreach (var step in tuner.Train(dataset.Records))
            {
                if (step.Step == 1 || step.Step % 10 == 0 || step.Step == options.Steps)
                    Console.WriteLine($"step {step.Step}/{options.Steps}  loss {step.Loss:F4}  lr {step.LearningRate:E2}  grad-norm {step.GradNorm:F3}  {clock.Elapsed.TotalSeconds:F1}s");
            }
            PretrainedModel.Save(lm, parse.GetValue(output)!, companionsFrom: modelDir);
            Console.WriteLine($"saved {parse.GetValue(output)}");
            return 0;
        }));
        return command;
    }
}
