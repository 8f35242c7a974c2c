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
public sealed record ProgressUpdate(string Stage, long Done, long Total);

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

    public LwfReport Run(string outDir, CancellationToken cancellation = default)
    {
        var spec = _spec;
        var report = new LwfReport { Job = spec.Name, Model = spec.Model, LearningSteps = spec.Train.Steps };
        var clock = Stopwatch.StartNew();
        void Stage(string name) { report.StageSeconds[name] = report.StageSeconds.GetValueOrDefault(name) + clock.Elapsed.TotalSeconds; clock.Restart(); }

        TorchSharp.torch.random.manual_seed(spec.Seed);
        using var model = PretrainedModel.Load(spec.Model, Devices.Resolve(spec.Device), initSeed: spec.Seed);
        report.Parameters = model.ParameterCount;
        var tokenizer = TextTokenizer.Load(spec.Model, model.Config);
        var encoder = new RecordEncoder(tokenizer, model.Config, spec.MaxLength);
        var learn = JsonlDataset.Load(spec.Data.LearnTrain, encoder, spec.SkipBadLines).Records;
        var evalSets = new List<EvalSet>();
        if (spec.Data.LearnEval is { } le) evalSets.Add(EvalSet.Load("learn", le, encoder, spec.SkipBadLines));
        if (spec.Data.ForgetEval is { } fe) evalSets.Add(EvalSet.Load("forget", fe, encoder, spec.SkipBadLines));
        if (spec.Data.HeldOut is { } ho) evalSets.Add(EvalSet.Load("held-out", ho, encoder, spec.SkipBadLines));
        long pad = model.Config.PadTokenId ?? (model.Config.EosTokenIds.Length > 0 ? model.Config.EosTokenIds[0] : 0);
        Stage("load");

        report.Evaluations.Add(Evaluate(model, encoder, evalSets, 0, "before"));
        Stage("evaluate");

        var forgetting = spec.Forgetting;
        List<TokenizedRecord> samples = [];
        FisherEstimate? fisher = null;
        IReadOnlyList<TokenizedRecord> forgetSet = [];
        ForgettingStepper? stepper = null;
        EpochSampler? forgetSampler = null;
        try
        {
            if (forgetting.Active)
            {
                var prompts = SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, encoder, spec.SkipBadLines);
                var generated = SelfGeneration.Generate(model, tokenizer, prompts, spec.SelfGen,
                    progress: n => Report("self-generation", n, (long)prompts.Count * spec.SelfGen.SamplesPerPrompt));
                SelfGeneration.Write(Path.Combine(outDir, "selfgen.jsonl"), generated);
                samples = generated.Select(s => s.ToRecord()).ToList();
                Stage("self-generation");

                (fisher, forgetSet, var scores) = ChooseForgettingSet(model, learn, samples, null);
                WriteConfidences(Path.Combine(outDir, "confidence.jsonl"), generated, scores, forgetSet, samples);
                var chosen = forgetting.Selection.Choose(scores);
                report.Forgetting = new ForgettingSummary(Lower(forgetting.Scorer), Lower(forgetting.Schedule), Lower(forgetting.Step.Loss),
                    forgetting.Step.Alpha, samples.Count, chosen.Length, chosen.Length > 0 ? scores[chosen[^1]] : null, scores);
                if (forgetSet.Count == 0) report.Notes.Add("the selection chose no sample: no forgetting step was taken");
                Stage("fisher-and-confidence");

                stepper = new ForgettingStepper(model, forgetting.Step, pad);
                stepper.UseFisher(fisher);
                forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Count), spec.Seed + 1);
            }

            void ForgetStep(int atStep)
            {
                if (stepper is null || forgetSet.Count == 0) return;
                var batch = forgetSampler!.Next(Math.Min(forgetting.BatchSize, forgetSet.Count)).Select(i => forgetSet[i]).ToList();
                report.ForgettingLoss.Add(new LossPoint(atStep, stepper.Step(batch)));
                report.ForgettingSteps++;
            }

            if (forgetting.Active && forgetting.Schedule == ForgettingSchedule.Ahead)
            {
                int count = forgetting.Schedule.ForgettingSteps(spec.Train.Steps, forgetting.ForgetEvery, forgetting.Step.Alpha);
                for (int k = 0; k < count; k++) { cancellation.ThrowIfCancellationRequested(); ForgetStep(0); Report("forgetting ahead", k + 1, count); }
                Stage("forgetting-ahead");
            }

            using var tuner = new FineTuner(model, spec.Train, pad);
            foreach (var step in tuner.Train(learn))
            {
                cancellation.ThrowIfCancellationRequested();
                report.LearningLoss.Add(new LossPoint(step.Step, step.Loss));
                if (forgetting.Schedule.ForgetsAfter(step.Step, forgetting.ForgetEvery, forgetting.Step.Alpha)) ForgetStep(step.Step);
                bool last = step.Step == spec.Train.Steps;
                if (stepper is not null && forgetting.RefreshEvery > 0 && step.Step % forgetting.RefreshEvery == 0 && !last)
                {
                    fisher?.Dispose();
                    (fisher, forgetSet, _) = ChooseForgettingSet(model, learn, samples, step.Step);
                    stepper.UseFisher(fisher);
                    forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Count), spec.Seed + 1 + step.Step);
                }
                if (spec.Eval.EvalEvery > 0 && step.Step % spec.Eval.EvalEvery == 0 && !last)
                    report.Evaluations.Add(Evaluate(model, encoder, evalSets, step.Step, "during"));
                Report("training", step.Step, spec.Train.Steps);
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

    /// <summary>Fisher (when the scorer or protection needs it), scores of every sample, and D_U.</summary>
    private (FisherEstimate? Fisher, IReadOnlyList<TokenizedRecord> ForgetSet, double[] Scores) ChooseForgettingSet(
        CausalLM model, IReadOnlyList<TokenizedRecord> learn, IReadOnlyList<TokenizedRecord> samples, int? atStep)
    {
        var forgetting = _spec.Forgetting;
        string suffix = atStep is null ? "" : $" (refresh at step {atStep})";
        FisherEstimate? fisher = null;
        if (forgetting.Scorer is ForgettingScorer.Fisher or ForgettingScorer.Inverse || forgetting.Step.FisherProtect > 0)
        {
            var records = FisherRecords(learn);
            using var accumulator = FisherAccumulator.For(model);
            accumulator.Accumulate(model, records, _spec.Fisher.Variant, _spec.Seed, n => Report("fisher" + suffix, n, records.Count));
            fisher = accumulator.ToEstimate();
        }
        var scores = ForgettingConfidence.Score(model, samples, forgetting.Scorer, fisher, _spec.Seed, n => Report("confidence" + suffix, n, samples.Count));
        var chosen = forgetting.Selection.Choose(scores);
        return (fisher, chosen.Select(i => samples[i]).ToList(), scores);
    }

    /// <summary>N_F learning records: the first fisher.records of a seeded permutation (0 = all, in order).</summary>
    private IReadOnlyList<TokenizedRecord> FisherRecords(IReadOnlyList<TokenizedRecord> learn)
    {
        int n = _spec.Fisher.Records;
        if (n == 0 || n >= learn.Count) return learn;
        return new EpochSampler(learn.Count, _spec.Seed + 2).Next(n).Select(i => learn[i]).ToList();
    }

    private EvalPoint Evaluate(CausalLM model, RecordEncoder encoder, List<EvalSet> sets, int step, string phase)
    {
        var results = new List<EvalResult>();
        foreach (var set in sets)
        {
            results.Add(set.Evaluate(model, encoder, _spec.Eval.MaxNewTokens, _spec.Eval.BatchSize));
            Report($"evaluation ({phase})", results.Count, sets.Count);
        }
        return new EvalPoint(step, phase, results);
    }

    private static void WriteConfidences(string path, IReadOnlyList<SelfGeneratedSample> generated, double[] scores,
        IReadOnlyList<TokenizedRecord> forgetSet, IReadOnlyList<TokenizedRecord> samples)
    {
        var chosen = new HashSet<TokenizedRecord>(forgetSet, ReferenceEqualityComparer.Instance);
        AtomicFile.WriteText(path, string.Concat(generated.Select((g, i) => new JsonObject
        {
            ["source"] = g.Source,
            ["prompt"] = g.Prompt,
            ["response"] = g.Response,
            ["forget_confidence"] = scores[i],
            ["forgotten"] = chosen.Contains(samples[i]),
        }.ToJsonString() + "\n")));
    }

    private void Report(string stage, long done, long total) => _progress?.Report(new ProgressUpdate(stage, done, total));

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
