using Lwf.Core.IO;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Forgetting;
using Lwf.Core.Replicas;
using Lwf.Core.Reports;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>
/// The whole LWF pipeline in one process (DESIGN.md §1): evaluate; self-generate on the forgetting prompts;
/// Fisher and gL over the learning records; score and choose D_U; fine-tune with D_U's records inside the learning
/// steps, weighted by α (refreshing F, gL, the scores and D_U every refresh_every steps); evaluate during and after. Writes
/// DIR/checkpoint-N/, DIR/model (Hugging Face format), trainer_state.json, selfgen.jsonl, confidence.jsonl,
/// report.json, report.md and plots.
/// </summary>
public sealed class LwfJobRunner
{
    private readonly JobSpec _spec;
    private readonly IJobObserver _observer;

    /// <summary>A default observer's methods do nothing.</summary>
    private sealed class Unobserved : IJobObserver;

    public LwfJobRunner(JobSpec spec, IJobObserver? observer = null)
    {
        _spec = spec;
        _observer = observer ?? new Unobserved();
    }

    /// <summary>Runs the job in this process.</summary>
    public LwfReport Run(string outDir, CancellationToken cancellation = default) =>
        RunAsync(outDir, null, cancellation).GetAwaiter().GetResult();

    /// <summary>
    /// Runs the job's schedule on the replicas <paramref name="groupFor"/> makes (null: one in this process).
    /// The samplers, the forgetting set, the checkpoints' bookkeeping and the report stay here; the model does not.
    /// </summary>
    public async Task<LwfReport> RunAsync(string outDir, Func<Action<JobStage, long, long>, IReplicaGroup>? groupFor, CancellationToken cancellation = default)
    {
        var spec = _spec;
        var store = new CheckpointStore(CheckpointDirectory ?? outDir, spec.Checkpoint.Keep);
        string fingerprint = CheckpointStore.Sha256(spec.SourcePath);
        var rejected = new List<string>();
        Checkpoint? resume = null;
        if (Resume) resume = store.Latest(fingerprint, rejected);
        if (Resume && resume is null && RequireCheckpoint)
            throw new LwfInputException($"--resume: no whole checkpoint of this job file in {store.Directory}" +
                (rejected.Count > 0 ? $" (passed over: {string.Join("; ", rejected)})" : "") + "; run without --resume to start afresh");
        var state = resume is null ? null : JobCheckpointState.Read(resume);
        string? live = LiveStateDirectory;
        var liveState = Resume && live is not null ? ReadLiveState(live, fingerprint) : null;

        var clock = Stopwatch.StartNew();
        await using var group = groupFor?.Invoke(Report) ?? new LocalReplicaGroup(spec, Report);
        var resumePoint = resume is null ? null : new ResumePoint(resume.Directory, state!.Step, state.HasFisher);
        var notes = rejected.Select(r => $"passed over a checkpoint: {r}").ToList();
        string? resumedFrom = resume is null ? null : $"resumed from {resume.Directory} (learning step {state!.Step})";
        if (resume is not null) _observer.Logged($"resumed from {Path.GetFileName(resume.Directory)} (learning step {state!.Step} of {spec.Train.Steps})");
        string? resumeFiles = resume?.Directory; // where the samples and output files of a resumed run are
        ReplicaGroupInfo prepared;
        if (liveState is not null && liveState.Step >= Math.Max(1, state?.Step ?? 0))
        {
            // The trainer's silo died and replicas on others may have survived it: going on from them loses no step.
            try
            {
                prepared = await group.PrepareFromReplicasAsync(liveState.Step, liveState.HasFisher, cancellation);
                resumedFrom = $"resumed from the surviving replicas at learning step {liveState.Step}" +
                    (resume is null ? " (no checkpoint was written)" : $" (the newest checkpoint is at step {state!.Step})");
                state = liveState;
                resumeFiles = live;
            }
            catch (Exception e) when (!cancellation.IsCancellationRequested)
            {
                notes.Add($"the surviving replicas could not go on from learning step {liveState.Step}: {e.Message}");
                prepared = await group.PrepareAsync(resumePoint, cancellation);
            }
        }
        else prepared = await group.PrepareAsync(resumePoint, cancellation);
        var (learningRecords, parameters) = prepared;
        if (learningRecords == 0) throw new LwfInputException($"{spec.Data.LearnTrain}: no learning records");
        if (!Resume)
        {
            // A fresh run clears what an earlier run left, but only once the model and the data have loaded.
            store.Clear();
            if (live is not null && Directory.Exists(live)) Directory.Delete(live, recursive: true);
        }

        var report = state?.Report ?? new LwfReport { Job = spec.Name, Model = spec.Model, LearningSteps = spec.Train.Steps };
        if (state is null && PretrainedModel.RandomInitNote(spec.Model, spec.Seed) is { } randomInit) report.Notes.Add(randomInit);
        report.Notes.AddRange(notes);
        if (resumedFrom is not null) report.Notes.Add(resumedFrom);
        void Stage(JobStage stage) { report.StageSeconds[stage.Name()] = report.StageSeconds.GetValueOrDefault(stage.Name()) + clock.Elapsed.TotalSeconds; clock.Restart(); }
        report.Parameters = parameters;
        Stage(JobStage.Load);

        if (state is null && spec.Eval.Before)
        {
            report.Evaluations.Add(await Evaluate(group, 0, "before", cancellation));
            Stage(JobStage.Evaluation);
        }

        var forgetting = spec.Forgetting;
        var stream = forgetting.Stream(spec.Train);
        IReadOnlyList<SelfGeneratedSample> samples = [];
        bool hasFisher = false;
        int[] forgetSet = [];
        EpochSampler? forgetSampler = null;
        long forgetSamplerSeed = spec.Seed + 1;
        if (forgetting.Active && state is null)
        {
            samples = await group.SelfGenerateAsync(cancellation);
            SelfGeneration.Write(Path.Combine(outDir, "selfgen.jsonl"), samples);
            Stage(JobStage.SelfGeneration);

            (hasFisher, forgetSet, var scores) = await ChooseForgettingSet(group, learningRecords, null, cancellation);
            WriteConfidences(Path.Combine(outDir, "confidence.jsonl"), samples, scores, forgetSet);
            report.Forgetting = new ForgettingSummary(Lower(forgetting.Scorer), SnakeCaseEnum.Name(forgetting.Arrange.ToString()), Lower(forgetting.Loss.Kind),
                forgetting.Loss.Alpha, forgetting.Portion, samples.Count, forgetSet.Length, forgetSet.Length > 0 ? scores[forgetSet[^1]] : null, scores);
            if (forgetSet.Length == 0) report.Notes.Add("the selection chose no sample: no forgetting record was trained on");
            Stage(JobStage.Scoring);
            forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
        }
        else if (forgetting.Active)
        {
            samples = SelfGeneration.LoadSamples(Path.Combine(resumeFiles!, JobCheckpointState.SamplesFile));
            await group.RestoreSamplesAsync(samples, cancellation);
            foreach (var name in JobCheckpointState.OutputFiles)
            {
                string from = Path.Combine(resumeFiles!, name);
                if (File.Exists(from)) AtomicFile.Write(Path.Combine(outDir, name), s => { using var source = File.OpenRead(from); source.CopyTo(s); });
            }
            hasFisher = state!.HasFisher;
            forgetSet = state.ForgetSet;
            forgetSamplerSeed = state.ForgettingSamplerSeed;
            forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
            forgetSampler.Skip(state.ForgettingDrawn);
        }

        {
            int stepsTaken = state?.Step ?? 0;
            var sampler = new EpochSampler(learningRecords, spec.Train.Seed);
            if (state is not null) sampler.Skip(state.LearningDrawn);

            JobCheckpointState Snapshot(int step, bool stepPending = false) =>
                new(step, sampler.Drawn, forgetSamplerSeed, forgetSampler?.Drawn ?? 0, forgetSet, hasFisher, report, stepPending);

            if (live is not null)
            {
                // What the live state needs beside itself: the samples and the outputs written before the loop.
                Directory.CreateDirectory(live);
                if (forgetting.Active)
                {
                    SelfGeneration.SaveSamples(Path.Combine(live, JobCheckpointState.SamplesFile), samples);
                    foreach (var name in JobCheckpointState.OutputFiles)
                        if (File.Exists(Path.Combine(outDir, name))) File.Copy(Path.Combine(outDir, name), Path.Combine(live, name), overwrite: true);
                }
                AtomicFile.WriteText(Path.Combine(live, LiveFingerprintFile), fingerprint);
            }
            void RecordLive(JobCheckpointState snapshot)
            {
                if (live is not null) snapshot.Write(live);
            }

            (int Step, string Directory)? savedAt = null; // the newest checkpoint this run wrote
            void SaveCheckpoint(int step)
            {
                // A run told to stop (cancelled, or its trainer handing over) writes nothing more.
                cancellation.ThrowIfCancellationRequested();
                Stage(JobStage.Training);
                var saved = store.Save(step, spec.Name, fingerprint, dir =>
                {
                    // The replica writes what it holds (model, optimiser, F); the runner what the schedule holds.
                    group.SaveStateAsync(dir, cancellation).GetAwaiter().GetResult();
                    if (forgetting.Active)
                    {
                        SelfGeneration.SaveSamples(Path.Combine(dir, JobCheckpointState.SamplesFile), samples);
                        foreach (var name in JobCheckpointState.OutputFiles)
                            if (File.Exists(Path.Combine(outDir, name))) File.Copy(Path.Combine(outDir, name), Path.Combine(dir, name));
                    }
                    Snapshot(step).Write(dir);
                    TrainerStateFile.Write(dir, spec, report, step, learningRecords);
                });
                Stage(JobStage.Checkpoint);
                savedAt = (step, saved.Directory);
                _observer.CheckpointSaved(saved);
            }

            // Asked to stop (^C): a checkpoint where the run stands (none before the first step), then the stop.
            void Stop(int step)
            {
                if (step > 0 && spec.Checkpoint.Save && savedAt?.Step != step && state?.Step != step) SaveCheckpoint(step);
                string? at = savedAt?.Step == step ? savedAt.Value.Directory : state?.Step == step && step > 0 ? resume!.Directory : null;
                throw new LwfStoppedException(step, spec.Train.Steps, at);
            }

            // A run resumed from the live state may find its last learning step taken and the rest of that step to do.
            bool stepPending = state?.StepPending ?? false;
            while (stepsTaken < spec.Train.Steps || stepPending)
            {
                cancellation.ThrowIfCancellationRequested();
                if (StopRequest.IsCancellationRequested && !stepPending) Stop(stepsTaken);
                int n;
                if (stepPending) n = stepsTaken;
                else
                {
                    var indices = sampler.Next(spec.Train.GlobalBatchSize);
                    // The forgetting records this step carries (DESIGN.md §1.5): the same step, loss mean and AdamW as the learning records.
                    int[] forgetIndices = forgetSampler is null || forgetSet.Length == 0 ? []
                        : forgetSampler.Next(stream.CountAt(stepsTaken + 1)).Select(i => forgetSet[i]).ToArray();
                    var stepClock = Stopwatch.StartNew();
                    var step = await group.LearningStepAsync(indices, forgetIndices, cancellation);
                    n = stepsTaken = step.Step;
                    report.StepTimes.Add(new StepTime(step.Step, stepClock.Elapsed.TotalSeconds, step.InputTokens));
                    report.LearningLoss.Add(new LossPoint(step.Step, step.Loss));
                    if (step.ForgettingLoss is { } forgettingLoss) report.ForgettingLoss.Add(new LossPoint(step.Step, forgettingLoss));
                    report.ForgettingRecords += step.ForgetRecords;
                    // Recorded before it is told: a trainer that dies after its job log shows a step resumes from that step.
                    RecordLive(Snapshot(n, stepPending: true));
                    _observer.StepCompleted(step);
                }
                stepPending = false;
                bool last = n == spec.Train.Steps;
                if (forgetting.Active && forgetting.RefreshEvery > 0 && n % forgetting.RefreshEvery == 0 && !last)
                {
                    (hasFisher, forgetSet, _) = await ChooseForgettingSet(group, learningRecords, n, cancellation);
                    forgetSamplerSeed = spec.Seed + 1 + n;
                    forgetSampler = new EpochSampler(Math.Max(1, forgetSet.Length), forgetSamplerSeed);
                }
                if (spec.Eval.EvalEvery > 0 && n % spec.Eval.EvalEvery == 0 && !last)
                    report.Evaluations.Add(await Evaluate(group, n, "during", cancellation));
                Report(JobStage.Training, n, spec.Train.Steps);
                if (spec.Checkpoint.Save && (last || spec.Checkpoint.Every > 0 && n % spec.Checkpoint.Every == 0)) SaveCheckpoint(n);
                RecordLive(Snapshot(n));
                if (StopRequest.IsCancellationRequested && !last) Stop(n);
            }
            Stage(JobStage.Training);
        }

        report.Evaluations.Add(await Evaluate(group, spec.Train.Steps, "after", cancellation));
        Stage(JobStage.Evaluation);
        await group.SaveModelAsync(Path.Combine(outDir, "model"), cancellation);
        ReportWriter.Write(report, outDir);
        TrainerStateFile.Write(outDir, spec, report, spec.Train.Steps, learningRecords, final: true);
        if (live is not null && Directory.Exists(live)) Directory.Delete(live, recursive: true); // the job is whole: nothing to go on from
        Stage(JobStage.Write);
        return report;
    }

    /// <summary>Where the checkpoint-N folders go (default: OUT, as the Hugging Face Trainer's output_dir).</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Go on from the newest whole checkpoint there is; without it a run starts afresh and clears old checkpoints (once the job has loaded).</summary>
    public bool Resume { get; init; }

    /// <summary>With <see cref="Resume"/>: no whole checkpoint is an error (`lwf train --resume`), not a fresh start (a cluster's trainer resuming a job that never reached one).</summary>
    public bool RequireCheckpoint { get; init; }

    /// <summary>
    /// Where the schedule's state is recorded after every learning step (the cluster's trainer: on
    /// the shared volume). A resumed run whose replicas outlived it (a trainer whose silo died) goes on from that
    /// state and their weights, losing no step; when no replica is at the recorded step, from the newest checkpoint.
    /// Null (`lwf train`): nothing is recorded.
    /// </summary>
    public string? LiveStateDirectory { get; init; }

    private const string LiveFingerprintFile = "job.sha256";

    /// <summary>The live state of this job file, if one is recorded and readable (anything else: none).</summary>
    private static JobCheckpointState? ReadLiveState(string directory, string fingerprint)
    {
        try
        {
            string stamp = Path.Combine(directory, LiveFingerprintFile);
            if (!File.Exists(stamp) || File.ReadAllText(stamp).Trim() != fingerprint || !File.Exists(Path.Combine(directory, JobCheckpointState.StateFile))) return null;
            return JobCheckpointState.Read(directory);
        }
        catch (Exception e) when (e is LwfInputException or IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// A request to stop at the next step boundary (the first ^C of `lwf train`): the step in flight finishes, a
    /// checkpoint is written there, and the run ends with <see cref="LwfStoppedException"/>.
    /// </summary>
    public CancellationToken StopRequest { get; init; }

    /// <summary>
    /// Fisher (when the scorer needs it; the replicas keep it), every sample's score, and D_U (global sample indices):
    /// the selection's choice, highest score first, at most portion × the learning records (the authors' cap).
    /// </summary>
    private async Task<(bool HasFisher, int[] ForgetSet, double[] Scores)> ChooseForgettingSet(
        IReplicaGroup group, int learningRecords, int? atStep, CancellationToken cancellation)
    {
        var forgetting = _spec.Forgetting;
        (double Mean, double Max)? statistics = null;
        if (forgetting.Scorer is ForgettingScorer.Fisher or ForgettingScorer.Inverse)
            statistics = await group.FisherAsync(FisherRecords(learningRecords), cancellation);
        var scores = await group.ScoreAsync(cancellation);
        var chosen = forgetting.Selection.Choose(scores).Take(ForgettingStream.Cap(forgetting.Portion, learningRecords)).ToArray();
        _observer.ForgettingSetChosen(new ForgettingChoice(atStep, scores, chosen.Length, statistics?.Mean, statistics?.Max));
        return (statistics is not null, chosen, scores);
    }

    /// <summary>N_F learning records: the first fisher.records of a seeded permutation (0 = all, in order).</summary>
    private int[] FisherRecords(int learningRecords)
    {
        int n = _spec.Fisher.Records;
        if (n == 0 || n >= learningRecords) return Enumerable.Range(0, learningRecords).ToArray();
        return new EpochSampler(learningRecords, _spec.Seed + 2).Next(n);
    }

    private async Task<EvalPoint> Evaluate(IReplicaGroup group, int step, string phase, CancellationToken cancellation)
    {
        _observer.Progressed(new ProgressUpdate(JobStage.Evaluation, 0, 1, Part: phase));
        var point = new EvalPoint(step, phase, await group.EvaluateAsync(cancellation));
        _observer.Progressed(new ProgressUpdate(JobStage.Evaluation, 1, 1, Part: phase));
        _observer.Evaluated(point);
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

    private void Report(JobStage stage, long done, long total) => _observer.Progressed(new ProgressUpdate(stage, done, total));

    private static string Lower<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();
}
