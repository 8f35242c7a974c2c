using System.Security.Cryptography;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Collectives;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Core.Replicas;

/// <summary>
/// One full copy of a job's training state on one device: the weights, the one AdamW (learning and forgetting
/// records share it), and F and gL once computed. `lwf train` has one; a cluster has one per silo. A step is the
/// same code in both: local gradient sums → <see cref="ReduceAsync"/> over the <see cref="ICollective"/> → the same
/// optimiser step on every replica (<see cref="ApplyLearning"/>), so replicas stay equal without weights being
/// shipped (DDP's contract).
/// </summary>
public sealed class TrainingReplica : IDisposable
{
    private FineTuner _tuner;
    private List<EvalSet>? _evalSets;

    public TrainingReplica(JobSpec spec, Device device, ResumePoint? resume = null)
    {
        Spec = spec;
        TorchSharp.torch.random.manual_seed(spec.Seed);
        Model = PretrainedModel.Load(resume is null ? spec.Model : resume.Directory, device, initSeed: spec.Seed, autocast: spec.Train.AutocastDType);
        Tokenizer = TextTokenizer.Load(spec.Model, Model.Config);
        Encoder = new RecordEncoder(Tokenizer, Model.Config, spec.MaxLength);
        PadId = Model.Config.PaddingId;
        _tuner = new FineTuner(Model, spec.Train, PadId);
        if (resume is not null) RestoreOptimisers(resume);
    }

    /// <summary>
    /// Where the replica's torch compute around a reduction runs (a silo runs it on its one torch thread, so that
    /// libtorch's thread teams do not multiply); by default, here.
    /// </summary>
    public Func<Action, Task> RunCompute { get; init; } = work => { work(); return Task.CompletedTask; };

    public JobSpec Spec { get; }
    public CausalLM Model { get; }
    public TextTokenizer? Tokenizer { get; }
    public RecordEncoder Encoder { get; }
    public long PadId { get; }
    public FisherEstimate? Fisher { get; private set; }
    public int LearningSteps => _tuner.StepsTaken;

    /// <summary>Learning steps and whether F is held: replicas that agree on these hold the same state.</summary>
    public (int Learning, bool HasFisher) Position => (LearningSteps, Fisher is not null);

    // ---- learning steps (learning and forgetting records) ----

    /// <summary>Empty sums for this step's local gradient, in the job's precision (every shard of the silo adds into them).</summary>
    public GradientSums NewGradientSums() => GradientSums.Start(Model, Spec.Train.GradientPrecision);

    public void AddLearningGradient(GradientSums sums, IReadOnlyList<TokenizedRecord> records) =>
        LearningGradient.AddTo(sums, Model, LearningGradient.MicroBatches(records, Spec.Train.MicroBatchSize), PadId);

    /// <summary>A step's forgetting records, cut into micro-batches of the training micro-batch size, weighted by the job's forgetting loss.</summary>
    public void AddForgettingGradient(GradientSums sums, IReadOnlyList<ForgettingRecord> samples) =>
        ForgettingGradient.AddTo(sums, Model, LearningGradient.MicroBatches(samples, Spec.Train.MicroBatchSize), Spec.Forgetting.Loss, PadId);

    /// <summary>
    /// Sums the local gradient and the totals over every replica, leaving the reduced gradient in .grad. Nothing is
    /// applied: a step whose collective fails is redone from the same weights (its sums started afresh).
    /// </summary>
    public async Task<(GradientTotals Totals, int Records, int ForgetRecords)> ReduceAsync(GradientSums local, ICollective collective, CancellationToken cancellation)
    {
        var t = local.Totals;
        var scalars = new[] { t.NllSum, t.LossTokens, t.InputTokens, local.Records, t.ForgetNllSum, t.ForgetTokens, local.ForgetRecords };
        if (local.Precision == GradientPrecision.Float64)
        {
            // float64 sums on the wire: the reduced gradient rounds to float32 once, as in one process.
            await collective.AllReduceAsync(local.Sums.Values.ToList(), scalars, cancellation).ConfigureAwait(false);
            await RunCompute(() => local.WriteToGrad(Model)).ConfigureAwait(false);
        }
        else
        {
            // The sums are .grad itself, reduced in place.
            // Each .grad read is a new handle on the gradient's storage: left to the finalizer, every step's
            // handles kept that step's whole gradient alive (`lwf train` on GPT-2-small grew by ≈0.5 GB a step).
            var grads = Model.parameters().Select(p => p.grad!).ToList();
            try
            {
                await collective.AllReduceAsync(grads, scalars, cancellation).ConfigureAwait(false);
            }
            finally
            {
                foreach (var g in grads) g.Dispose();
            }
        }
        return (new GradientTotals(scalars[0], (long)scalars[1], (long)scalars[2], scalars[4], (long)scalars[5]), (int)scalars[3], (int)scalars[6]);
    }

    /// <summary>The optimiser step on the reduced gradient in .grad (learning and forgetting records alike).</summary>
    public StepResult ApplyLearning(GradientTotals totals, int records, int forgetRecords) => _tuner.ApplyGradients(totals, records, forgetRecords);

    // ---- Fisher and forgetting confidence ----

    public FisherAccumulator NewFisherSums() => FisherAccumulator.For(Model, Spec.Train.GradientPrecision);

    public void AddFisher(FisherAccumulator sums, IEnumerable<(int Index, TokenizedRecord Record)> records, Action<int>? progress = null) =>
        sums.Accumulate(Model, records, Spec.Fisher.Variant, Spec.Seed, progress);

    /// <summary>Sums Σg⊙g, Σg and the count over every replica; every replica then holds the same F and gL.</summary>
    public async Task<(double Mean, double Max)> ReduceFisherAsync(FisherAccumulator local, ICollective collective, CancellationToken cancellation)
    {
        var tensors = local.Names.Select(local.SumSquares).Concat(local.Names.Select(local.Sum)).ToList();
        var scalars = new double[] { local.Count };
        await collective.AllReduceAsync(tensors, scalars, cancellation).ConfigureAwait(false);
        local.SetCount((long)scalars[0]);
        (double, double) statistics = default;
        await RunCompute(() =>
        {
            UseFisher(local.ToEstimate());
            statistics = FisherStatistics(Fisher!);
        }).ConfigureAwait(false);
        return statistics;
    }

    private void UseFisher(FisherEstimate? fisher)
    {
        Fisher?.Dispose();
        Fisher = fisher;
    }

    /// <summary>Scores of samples by global index (the random scorer draws from the index, so any shard gives the same).</summary>
    public double[] Score(IReadOnlyList<int> indices, IReadOnlyList<TokenizedRecord> samples, Action<int>? progress = null) =>
        ForgettingConfidence.Score(Model, samples, Spec.Forgetting.Scorer, Fisher, Spec.Seed, progress, indices);

    /// <summary>Mean and largest entry of the diagonal Fisher over every parameter.</summary>
    public static (double Mean, double Max) FisherStatistics(FisherEstimate fisher)
    {
        using var scope = NewDisposeScope();
        double sum = 0, max = double.NegativeInfinity;
        long count = 0;
        foreach (var name in fisher.Names)
        {
            var f = fisher.Fisher(name);
            sum += f.sum().to(ScalarType.Float64).item<double>();
            max = Math.Max(max, f.max().to(ScalarType.Float64).item<double>());
            count += f.numel();
        }
        return count == 0 ? (double.NaN, double.NaN) : (sum / count, max);
    }

    // ---- self-generation and evaluation ----

    public List<SelfGeneratedSample> SelfGenerate(IReadOnlyList<ForgettingPrompt> prompts, Action<int>? progress = null) =>
        SelfGeneration.Generate(Model, Tokenizer, prompts, Spec.SelfGen, progress);

    /// <summary>The job's evaluation sets, in a fixed order (learn, forget, held-out), loaded on first use.</summary>
    public IReadOnlyList<EvalSet> EvalSets => _evalSets ??= LoadEvalSets();

    private List<EvalSet> LoadEvalSets()
    {
        var sets = new List<EvalSet>();
        if (Spec.Data.LearnEval is { } le) sets.Add(EvalSet.Load("learn", le, Encoder, Spec.SkipBadLines));
        if (Spec.Data.ForgetEval is { } fe) sets.Add(EvalSet.Load("forget", fe, Encoder, Spec.SkipBadLines));
        if (Spec.Data.HeldOut is { } ho) sets.Add(EvalSet.Load("held-out", ho, Encoder, Spec.SkipBadLines));
        return sets;
    }

    public EvalResult Evaluate(int set) => EvalSets[set].Evaluate(Model, Encoder, Spec.Eval.MaxNewTokens, Spec.Eval.BatchSize);

    // ---- state on disk: checkpoints, and a late replica catching up with a peer ----

    /// <summary>Writes the model (Hugging Face format, tokenizer files beside), the optimiser's state and F into <paramref name="directory"/>.</summary>
    public void SaveState(string directory)
    {
        PretrainedModel.WriteInto(Model, directory, companionsFrom: Spec.Model);
        _tuner.SaveState(Path.Combine(directory, JobCheckpointState.OptimizerFile));
        Fisher?.Save(Path.Combine(directory, JobCheckpointState.FisherFile), Spec.Fisher.Variant);
    }

    /// <summary>The model alone, as the job's result.</summary>
    public void SaveModel(string directory) => PretrainedModel.Save(Model, directory, companionsFrom: Spec.Model);

    /// <summary>Takes over the state another replica (or a checkpoint) wrote with <see cref="SaveState"/>.</summary>
    public void LoadState(ResumePoint point)
    {
        using (var loaded = PretrainedModel.Load(point.Directory, Model.Device))
            CopyWeights(loaded);
        RestoreOptimisers(point);
    }

    /// <summary>Copies another model's weights into this replica's, in place (the optimiser keeps its parameters).</summary>
    private void CopyWeights(CausalLM loaded)
    {
        using var _ = no_grad();
        var source = loaded.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in Model.named_parameters()) p.copy_(source[name]);
    }

    /// <summary>
    /// Back to the job's start, as the constructor leaves a replica made from the base model: its weights, a fresh
    /// optimiser at step 0, no F. A trainer that starts a job afresh can find replicas an earlier activation moved on.
    /// </summary>
    public void Restart()
    {
        TorchSharp.torch.random.manual_seed(Spec.Seed);
        using (var loaded = PretrainedModel.Load(Spec.Model, Model.Device, initSeed: Spec.Seed, autocast: Spec.Train.AutocastDType))
            CopyWeights(loaded);
        var old = _tuner;
        _tuner = new FineTuner(Model, Spec.Train, PadId);
        old.Dispose();
        UseFisher(null);
    }

    private void RestoreOptimisers(ResumePoint point)
    {
        _tuner.RestoreState(point.LearningSteps, Path.Combine(point.Directory, JobCheckpointState.OptimizerFile));
        UseFisher(point.HasFisher ? FisherEstimate.Load(Path.Combine(point.Directory, JobCheckpointState.FisherFile), Model) : null);
    }

    /// <summary>SHA-256 of every weight's bytes in name order (hex, 16 characters): replicas that agree hold the same weights.</summary>
    public string WeightsHash()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var scope = NewDisposeScope();
        foreach (var (name, p) in Model.named_parameters())
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(name));
            var cpu = p.detach().cpu().contiguous();
            hash.AppendData(cpu.bytes);
        }
        return Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
    }

    public void Dispose()
    {
        Fisher?.Dispose();
        _tuner.Dispose();
        Model.Dispose();
    }
}
