namespace Lwf.Core.Training;

/// <summary>
/// Optimiser and schedule knobs, defaulted as in the Hugging Face Trainer (a job file names them as TrainingArguments does). A step is one
/// optimiser step over <c>MicroBatchSize × GradientAccumulation</c> records.
/// </summary>
public sealed record FineTuneOptions
{
    public int Steps { get; init; } = 100;
    public double LearningRate { get; init; } = 5e-5;
    public double WeightDecay { get; init; } = 0.0;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public int WarmupSteps { get; init; } = 0;
    /// <summary>The decay after the warm-up (transformers' lr_scheduler_type; linear by default, as the Trainer's).</summary>
    public LearningRateScheduler Scheduler { get; init; } = LearningRateScheduler.Linear;
    public int MicroBatchSize { get; init; } = 8;
    public int GradientAccumulation { get; init; } = 1;
    /// <summary>Clip the global gradient norm to this; 0 turns clipping off.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public long Seed { get; init; } = 42;
    /// <summary>What the step's gradient is summed in (float32 .grad as PyTorch; float64 to check layouts against one process).</summary>
    public GradientPrecision GradientPrecision { get; init; } = GradientPrecision.Float32;

    /// <summary>
    /// bf16 mixed precision (the Trainer's bf16=True, PyTorch's autocast): float32 master weights, AdamW moments and
    /// gradient sums; matrix products and attention in bfloat16.
    /// </summary>
    public bool Bf16 { get; init; }

    /// <summary>The dtype the model's matrix products are cast to; null: none (the weights' dtype).</summary>
    public TorchSharp.torch.ScalarType? AutocastDType => Bf16 ? TorchSharp.torch.ScalarType.BFloat16 : null;

    public int GlobalBatchSize => MicroBatchSize * GradientAccumulation;

    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new LwfInputException(message);
        }
        Require(Steps > 0, $"steps must be positive, got {Steps}");
        // Upper limits far above any real setting: beyond them AdamW only turns the weights into NaN.
        Require(LearningRate is > 0 and <= 1, $"learning rate must be in (0, 1], got {LearningRate}");
        Require(WeightDecay is >= 0 and <= 10, $"weight decay must be in [0, 10], got {WeightDecay}");
        Require(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, $"betas must be in [0, 1), got ({Beta1}, {Beta2})");
        Require(Epsilon is > 0 and <= 1, $"epsilon must be in (0, 1], got {Epsilon}");
        Require(WarmupSteps >= 0 && WarmupSteps <= Steps, $"warmup steps must be in 0..steps ({Steps}), got {WarmupSteps}");
        Require(MicroBatchSize > 0, $"micro-batch size must be positive, got {MicroBatchSize}");
        Require(GradientAccumulation > 0, $"gradient accumulation must be positive, got {GradientAccumulation}");
        Require(MaxGradNorm is >= 0 and <= 1e6, $"max gradient norm must be in [0, 1e6] (0: no clipping), got {MaxGradNorm}");
    }
}
