using System.Diagnostics;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Models;
using Lwf.Core.Reports;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>Progress of a stage: Done of Total units (records, samples, steps).</summary>
public sealed record ProgressUpdate(string Stage, long Done, long Total, string? Detail = null);

/// <summary>One choice of the forgetting set: when (null: before training), every sample's score, how many were kept, the Fisher's mean and largest entry.</summary>
public sealed record ForgettingChoice(int? AtStep, IReadOnlyList<double> Scores, int Selected, double? FisherMean, double? FisherMax);

/// <summary>What workers are made from: the trainer's model and the job, as the trainer loaded them.</summary>
public sealed record TrainerContext(CausalLM Model, JobSpec Spec, RecordEncoder Encoder, TextTokenizer? Tokenizer, long PadId,
    Action<string, long, long> Progress);

/// <summary>
/// The whole LWF pipeline in one process (DESIGN.md §1): evaluate; self-generate on the forgetting prompts;
/// Fisher and gL over the learning records; score and choose D_U; fine-tune with forgetting steps on the
/// schedule (refreshing F, gL and the scores every refreshEvery steps); evaluate during and after. Writes
/// DIR/model (Hugging Face format), selfgen.jsonl, confidence.jsonl, report.json, report.md and plots.
/// </summary>
public sealed class LwfJobRunner
{
    private readonly JobSpec _spec;
    private readonly IProgress<ProgressUpdate>? _progress;

    public LwfJobRunner(JobSpec spec, IProgress<ProgressUpdate>? progress = null)
    {
        _spec = spec;
        _progress = progress;
    }

    /// <summary>Runs the job in this process.</summary>
    public LwfReport Run(string outDir, CancellationToken cancellation = default) =>
        RunAsync(outDir, null, cancellation).GetAwaiter().GetResult();

    /// <summary>
    /// Runs the job with the per-record work done by the workers <paramref name="workersFor"/> makes for the
    /// trainer's model (null: in this process). The loop, the optimisers and evaluation stay here.
    /// </summary>
    public async Task<LwfReport> RunAsync(string outDir, Func<TrainerContext, IPipelineWorkers>? workersFor, CancellationToken cancellation = default)
    {
        var spec = _spec;
        var store = new CheckpointStore(CheckpointDirectory ?? Path.Combine(outDir, "checkpoints"), spec.Checkpoint.Keep);
        string fingerprint = CheckpointStore.Sha256(spec.SourcePath);
        var rejected = new List<string>();
        Checkpoint? resume = null;
        if (Resume) resume = store.Latest(fingerprint, rejected);
        else store.Clear();
        var state = resume is null ? null : JobCheckpointState.Read(resume);

        var report = state?.Report ?? new LwfReport { Job = spec.Name, Model = spec.Model, LearningSteps = spec.Train.Steps };
        report.Notes.AddRange(rejected.Select(r => $"passed over a checkpoint: {r}"));
        if (resume is not null) report.Notes.Add($"resumed from {resume.Directory} (learning step {state!.Step})");
        var clock = Stopwatch.StartNew();
        void Stage(string name) { report.StageSeconds[name] = report.StageSeconds.GetValueOrDefault(name) + clock.Elapsed.TotalSeconds; clock.Restart(); }

        TorchSharp.torch.random.manual_seed(spec.Seed);
        var device = Devices.Resolve(spec.Device);
        using var model = PretrainedModel.Load(resume?.File(JobCheckpointState.ModelFolder) ?? spec.Model, device, initSeed: spec.Seed);
        report.Parameters = model.ParameterCount;
        var tokenizer = TextTokenizer.Load(spec.Model, model.Config);
        var encoder = new RecordEncoder(tokenizer, model.Config, spec.MaxLength);
        var evalSets = new List<EvalSet>();
        if (spec.Data.LearnEval is { } le) evalSets.Add(EvalSet.Load("learn", le, encoder, spec.SkipBadLines));
        if (spec.Data.ForgetEval is { } fe) evalSets.Add(EvalSet.Load("forget", fe, encoder, spec.SkipBadLines));
        if (spec.Data.HeldOut is { } ho) evalSets.Add(EvalSet.Load("held-out", ho, encoder, spec.SkipBadLines));
        long pad = model.Config.PaddingId;
        var context = new TrainerContext(model, spec, encoder, tokenizer, pad, Report);
        await using var workers = workersFor?.Invoke(context) ?? new LocalWorkers(model, spec, encoder, tokenizer, pad, Report);
        int learningRecords = await workers.PrepareAsync(cancellation);
        if (learningRecords == 0) throw new LwfInputException($"{spec.Data.LearnTrain}: no learning records");
        Stage("load");

        if (state is null)
        {
            report.Evaluations.Add(Evaluate(model, encoder, evalSets, 0, "before"));
            Stage("evaluate");
        }

        var forgetting = spec.Forgetting;
        IReadOnlyList<SelfGeneratedSample> samples = [];
        FisherEstimate? fisher = null;
        int[] forgetSet = [];
        ForgettingStepper? stepper = null;
        EpochSampler? forgetSampler = null;
        long forgetSamplerSeed = spec.Seed + 1;
        try
        {
            if (forgetting.Active && state is null)
            {
                samples = await workers.SelfGenerateAsync(cancellation);
                SelfGeneration.Write(Path.Combine(outDir, "selfgen.jsonl"), samples);
                Stage("self-generation");

                (fisher, forgetSet, var scores) = await ChooseForgettingSet(workers, learningRecords, null, cancellation);
                WriteConfidences(Path.Combine(outDir, "confidence.jsonl"), samples, scores, forgetSet);
                report.Forgetting = new ForgettingSummary(Lower(forgetting.Scorer), Lower(forgetting.Schedule), Lower(forgetting.Step.Loss),
                    forgetting.Step.Alpha, samples.Count, forgetSet.Length, forgetSet.Length > 0 ? scores[forgetSet[^1]] : null, scores);
                if (forgetSet.Length == 0) report.Notes.Add("the selection chose no sample: no forgetting step was taken");
                Stage("fisher-and-confidence");

                stepper = new ForgettingStepper(model, forgetting.Step, pad);
                stepper.UseFisher(fisher);
                forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
            }
            else if (forgetting.Active)
            {
                samples = SelfGeneration.LoadSamples(resume!.File(JobCheckpointState.SamplesFile));
                await workers.RestoreSamplesAsync(samples, cancellation);
                foreach (var name in JobCheckpointState.OutputFiles)
                    if (File.Exists(resume.File(name)))
                        AtomicFile.Write(Path.Combine(outDir, name), s => { using var from = File.OpenRead(resume.File(name)); from.CopyTo(s); });
                fisher = state!.HasFisher ? FisherEstimate.Load(resume.File(JobCheckpointState.FisherFile), model) : null;
                forgetSet = state.ForgetSet;
                stepper = new ForgettingStepper(model, forgetting.Step, pad);
                stepper.UseFisher(fisher);
                stepper.RestoreState(state.ForgettingStepsTaken, resume.File(JobCheckpointState.ForgettingOptimizerFile));
                forgetSamplerSeed = state.ForgettingSamplerSeed;
                forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
                forgetSampler.Skip(state.ForgettingDrawn);
            }

            async Task ForgetStep(int atStep)
            {
                if (stepper is null || forgetSet.Length == 0) return;
                var batch = forgetSampler!.Next(Math.Min(forgetting.BatchSize, forgetSet.Length)).Select(i => forgetSet[i]).ToList();
                var (nll, tokens, _) = await workers.ForgettingGradientAsync(batch, forgetting.Step.Loss, cancellation);
                stepper.ApplyGradients(tokens);
                workers.WeightsChanged();
                report.ForgettingLoss.Add(new LossPoint(atStep, nll / Math.Max(1, tokens)));
                ForgettingStepCompleted?.Invoke(nll / Math.Max(1, tokens));
                report.ForgettingSteps++;
            }

            if (forgetting.Active && forgetting.Schedule == ForgettingSchedule.Ahead && state is null)
            {
                int count = forgetting.Schedule.ForgettingSteps(spec.Train.Steps, forgetting.ForgetEvery, forgetting.Step.Alpha);
                for (int k = 0; k < count; k++) { cancellation.ThrowIfCancellationRequested(); await ForgetStep(0); Report("forgetting ahead", k + 1, count); }
                Stage("forgetting-ahead");
            }

            using var tuner = new FineTuner(model, spec.Train, pad);
            var sampler = new EpochSampler(learningRecords, spec.Train.Seed);
            if (state is not null)
            {
                tuner.RestoreState(state.Step, resume!.File(JobCheckpointState.OptimizerFile));
                sampler.Skip(state.LearningDrawn);
            }

            void SaveCheckpoint(int step)
            {
                // A run told to stop (cancelled, or its trainer handing over) writes nothing more.
                cancellation.ThrowIfCancellationRequested();
                Stage("training");
                var saved = store.Save(step, spec.Name, fingerprint, dir =>
                {
                    PretrainedModel.Save(model, Path.Combine(dir, JobCheckpointState.ModelFolder), companionsFrom: spec.Model);
                    tuner.SaveState(Path.Combine(dir, JobCheckpointState.OptimizerFile));
                    if (stepper is not null)
                    {
                        stepper.SaveState(Path.Combine(dir, JobCheckpointState.ForgettingOptimizerFile));
                        SelfGeneration.SaveSamples(Path.Combine(dir, JobCheckpointState.SamplesFile), samples);
                        fisher?.Save(Path.Combine(dir, JobCheckpointState.FisherFile), spec.Fisher.Variant);
                        foreach (var name in JobCheckpointState.OutputFiles)
                            if (File.Exists(Path.Combine(outDir, name))) File.Copy(Path.Combine(outDir, name), Path.Combine(dir, name));
                    }
                    new JobCheckpointState(step, sampler.Drawn, forgetSamplerSeed, forgetSampler?.Drawn ?? 0, forgetSet,
                        stepper?.StepsTaken ?? 0, fisher is not null, report).Write(dir);
                });
                Stage("checkpoint");
                CheckpointSaved?.Invoke(saved);
            }

            while (tuner.StepsTaken < spec.Train.Steps)
            {
                cancellation.ThrowIfCancellationRequested();
                var indices = sampler.Next(spec.Train.GlobalBatchSize);
                var step = tuner.ApplyGradients(await workers.LearningGradientAsync(indices, cancellation), indices.Length);
                workers.WeightsChanged();
                report.LearningLoss.Add(new LossPoint(step.Step, step.Loss));
                StepCompleted?.Invoke(step);
                if (forgetting.Schedule.ForgetsAfter(step.Step, forgetting.ForgetEvery, forgetting.Step.Alpha)) await ForgetStep(step.Step);
                bool last = step.Step == spec.Train.Steps;
                if (stepper is not null && forgetting.RefreshEvery > 0 && step.Step % forgetting.RefreshEvery == 0 && !last)
                {
                    fisher?.Dispose();
                    (fisher, forgetSet, _) = await ChooseForgettingSet(workers, learningRecords, step.Step, cancellation);
                    stepper.UseFisher(fisher);
                    forgetSamplerSeed = spec.Seed + 1 + step.Step;
                    forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
                }
                if (spec.Eval.EvalEvery > 0 && step.Step % spec.Eval.EvalEvery == 0 && !last)
                    report.Evaluations.Add(Evaluate(model, encoder, evalSets, step.Step, "during"));
                Report("training", step.Step, spec.Train.Steps);
                if (last || spec.Checkpoint.Every > 0 && step.Step % spec.Checkpoint.Every == 0) SaveCheckpoint(step.Step);
            }
            Stage("training");
        }
        finally
        {
            stepper?.Dispose();
            fisher?.Dispose();
        }

        report.Evaluations.Add(Evaluate(model, encoder, evalSets, spec.Train.Steps, "after"));
        Stage("evaluate");
        PretrainedModel.Save(model, Path.Combine(outDir, "model"), companionsFrom: spec.Model);
        ReportWriter.Write(report, outDir);
        Stage("write");
        return report;
    }

    /// <summary>Where checkpoints go (default: OUT/checkpoints).</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Go on from the newest whole checkpoint there is; without it a run starts afresh and clears old checkpoints.</summary>
    public bool Resume { get; init; }

    /// <summary>Called after each checkpoint is whole on disk.</summary>
    public Action<Checkpoint>? CheckpointSaved { get; set; }

    /// <summary>Called after every learning step (the cluster's trainer publishes progress from it).</summary>
    public Action<StepResult>? StepCompleted { get; set; }

    /// <summary>Called after every forgetting step with the forgetting batch's NLL before the step.</summary>
    public Action<double>? ForgettingStepCompleted { get; set; }

    /// <summary>Called when the forgetting set is chosen (at the start and at every refresh): scores, size, Fisher statistics.</summary>
    public Action<ForgettingChoice>? ForgettingSetChosen { get; set; }

    /// <summary>Called after every evaluation (before, during and after training).</summary>
    public Action<EvalPoint>? Evaluated { get; set; }

    /// <summary>Fisher (when the scorer or protection needs it), every sample's score, and D_U (global sample indices).</summary>
    private async Task<(FisherEstimate? Fisher, int[] ForgetSet, double[] Scores)> ChooseForgettingSet(
        IPipelineWorkers workers, int learningRecords, int? atStep, CancellationToken cancellation)
    {
        var forgetting = _spec.Forgetting;
        FisherEstimate? fisher = null;
        if (forgetting.Scorer is ForgettingScorer.Fisher or ForgettingScorer.Inverse || forgetting.Step.FisherProtect > 0)
        {
            using var accumulator = await workers.FisherAsync(FisherRecords(learningRecords), cancellation);
            fisher = accumulator.ToEstimate();
        }
        var scores = await workers.ScoreAsync(fisher, cancellation);
        var chosen = forgetting.Selection.Choose(scores);
        if (ForgettingSetChosen is { } chosenHook)
        {
            var (mean, max) = fisher is null ? ((double?)null, (double?)null) : FisherStatistics(fisher);
            chosenHook(new ForgettingChoice(atStep, scores, chosen.Length, mean, max));
        }
        return (fisher, chosen, scores);
    }

    /// <summary>Mean and largest entry of the diagonal Fisher over every parameter.</summary>
    private static (double? Mean, double? Max) FisherStatistics(FisherEstimate fisher)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        double sum = 0, max = double.NegativeInfinity;
        long count = 0;
        foreach (var name in fisher.Names)
        {
            var f = fisher.Fisher(name);
            sum += f.sum().to(TorchSharp.torch.ScalarType.Float64).item<double>();
            max = Math.Max(max, f.max().to(TorchSharp.torch.ScalarType.Float64).item<double>());
            count += f.numel();
        }
        return count == 0 ? (null, null) : (sum / count, max);
    }

    /// <summary>N_F learning records: the first fisher.records of a seeded permutation (0 = all, in order).</summary>
    private int[] FisherRecords(int learningRecords)
    {
        int n = _spec.Fisher.Records;
        if (n == 0 || n >= learningRecords) return Enumerable.Range(0, learningRecords).ToArray();
        return new EpochSampler(learningRecords, _spec.Seed + 2).Next(n);
    }

    private EvalPoint Evaluate(CausalLM model, RecordEncoder encoder, List<EvalSet> sets, int step, string phase)
    {
        var results = new List<EvalResult>();
        foreach (var set in sets)
        {
            results.Add(set.Evaluate(model, encoder, _spec.Eval.MaxNewTokens, _spec.Eval.BatchSize));
            Report($"evaluation ({phase})", results.Count, sets.Count);
        }
        var point = new EvalPoint(step, phase, results);
        Evaluated?.Invoke(point);
        return point;
    }

    private static void WriteConfidences(string path, IReadOnlyList<SelfGeneratedSample> generated, double[] scores, int[] forgetSet)
    {
        var chosen = new HashSet<int>(forgetSet);
        AtomicFile.WriteText(path, string.Concat(generated.Select((g, i) => new JsonObject
        {
            ["source"] = g.Source,
            ["prompt"] = g.Prompt,
            ["response"] = g.Response,
            ["forget_confidence"] = scores[i],
            ["forgotten"] = chosen.Contains(i),
        }.ToJsonString() + "\n")));
    }

    private void Report(string stage, long done, long total) => _progress?.Report(new ProgressUpdate(stage, done, total));

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
