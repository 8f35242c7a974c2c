using Lwf.Core.Data;
using Lwf.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>
/// Single-process fine-tuning: AdamW (no decay on biases and norms, as the HF Trainer), warm-up + cosine,
/// clipping, gradient accumulation. The loss of a step is the sum of token NLLs over every micro-batch
/// divided by the step's total count of loss tokens, so accumulation (and later, sharding) does not change
/// what is minimised. Seeded and deterministic on the CPU.
/// </summary>
public sealed class FineTuner : IDisposable
{
    private readonly CausalLM _model;
    private readonly FineTuneOptions _options;
    private readonly long _padId;
    private readonly ScalarSafeAdamW _optimizer;
    private readonly List<Parameter> _parameters;

    public FineTuner(CausalLM model, FineTuneOptions options, long padId)
    {
        options.Validate();
        // The model computes as it was loaded: a bf16 job's options on a model without autocast would train in float32 unseen.
        if (options.AutocastDType != model.Autocast.DType)
            throw new InvalidOperationException($"the options ask for {(options.Bf16 ? "bf16 mixed precision" : "no autocast")}, " +
                $"but the model computes in {model.ComputeDType}: load it with autocast: {options.AutocastDType?.ToString() ?? "null"}");
        _model = model;
        _options = options;
        _padId = padId;
        _parameters = model.parameters().ToList();
        var decay = model.parameters().Where(p => p.dim() >= 2).ToList();
        var noDecay = model.parameters().Where(p => p.dim() < 2).ToList();
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay, false, false),
        };
        if (noDecay.Count > 0)
            groups.Add(new(noDecay, options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, 0.0, false, false));
        _optimizer = new ScalarSafeAdamW(groups, options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
    }

    public int StepsTaken { get; private set; }

    /// <summary>Runs <see cref="FineTuneOptions.Steps"/> steps over <paramref name="records"/>, reporting each.</summary>
    public IEnumerable<StepResult> Train(IReadOnlyList<TokenizedRecord> records)
    {
        if (records.Count == 0) throw new LwfInputException("no training records");
        var sampler = new EpochSampler(records.Count, _options.Seed);
        while (StepsTaken < _options.Steps)
        {
            var indices = sampler.Next(_options.GlobalBatchSize);
            yield return Step(LearningGradient.MicroBatches(indices.Select(i => records[i]).ToList(), _options.MicroBatchSize));
        }
    }

    /// <summary>One optimiser step over the given micro-batches.</summary>
    public StepResult Step(IReadOnlyList<IReadOnlyList<TokenizedRecord>> microBatches)
    {
        using var sums = LearningGradient.Accumulate(_model, microBatches, _padId, _options.GradientPrecision);
        sums.WriteToGrad(_model);
        return ApplyGradients(sums.Totals, sums.Records);
    }

    /// <summary>
    /// The optimiser step once the parameters' <c>.grad</c> hold the step's summed numerator (Σ∇ token NLL of the
    /// learning records plus the forgetting records' weighted terms, from this process or reduced across shards):
    /// divides by every loss token of the step, clips, steps.
    /// </summary>
    public StepResult ApplyGradients(GradientTotals totals, int records, int forgetRecords = 0)
    {
        var (nllSum, learningTokens, inputTokens, forgetNll, forgetTokens) = totals;
        long tokens = totals.Divisor;
        if (tokens <= 0) throw new InvalidOperationException("a learning step needs at least one loss token");
        double lr = _options.LearningRate * LearningRateSchedule.Multiplier(StepsTaken, _options.WarmupSteps, _options.Steps, _options.Scheduler);
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = lr;
        double gradNorm;
        using (var scope = NewDisposeScope())
        {
            // One Scalar for every division, alive until the loop ends (an implicit temporary can be finalized
            // while libtorch still reads it).
            using (no_grad())
            using (Scalar divisor = tokens)
                foreach (var p in _parameters) p.grad?.div_(divisor);
            gradNorm = _options.MaxGradNorm > 0
                ? nn.utils.clip_grad_norm_(_parameters, _options.MaxGradNorm)
                : GradNorm(_parameters);
            // A non-finite loss or gradient would turn every weight into NaN: stop before the step, not after.
            if (!double.IsFinite(nllSum) || !double.IsFinite(forgetNll) || !double.IsFinite(gradNorm))
                throw new LwfTrainingException($"learning step {StepsTaken + 1}: the loss is {nllSum / Math.Max(1, learningTokens)} and the gradient norm {gradNorm} " +
                    $"(learning rate {lr:G3}); the step was not taken and the weights are those of step {StepsTaken}");
            _optimizer.step();
        }
        _model.eval();
        StepsTaken++;
        return new StepResult(StepsTaken, learningTokens > 0 ? nllSum / learningTokens : double.NaN, lr, gradNorm, learningTokens, inputTokens, records,
            forgetTokens > 0 ? forgetNll / forgetTokens : null, forgetRecords);
    }

    /// <summary>The global L2 norm of the parameters' gradients (what clipping measures), without clipping.</summary>
    internal static double GradNorm(IEnumerable<Parameter> parameters)
    {
        using var _ = NewDisposeScope();
        var squares = parameters.Where(p => p.grad is not null).Select(p => p.grad!.to(ScalarType.Float32).Square().sum()).ToList();
        return squares.Count == 0 ? 0 : stack(squares).sum().sqrt().item<float>();
    }

    /// <summary>The AdamW moments and step counts (TorchSharp's state-dict format) for a checkpoint.</summary>
    public void SaveState(string path) => _optimizer.save_state_dict(path);

    /// <summary>Continues from a checkpoint: <paramref name="stepsTaken"/> steps done, the optimiser state of <paramref name="path"/>.</summary>
    public void RestoreState(int stepsTaken, string path)
    {
        if (stepsTaken < 0 || stepsTaken > _options.Steps)
            throw new LwfInputException($"{path}: the checkpoint is at step {stepsTaken}, outside 0..{_options.Steps}");
        _optimizer.load_state_dict(path);
        StepsTaken = stepsTaken;
    }

    public void Dispose() => _optimizer.Dispose();
}
