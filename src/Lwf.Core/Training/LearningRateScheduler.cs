namespace Lwf.Core.Training;

/// <summary>The learning-rate schedule after the warm-up, by transformers' <c>lr_scheduler_type</c> names.</summary>
public enum LearningRateScheduler
{
    /// <summary>Linear decay to zero (the Trainer's default).</summary>
    Linear,
    /// <summary>Half a cosine down to zero.</summary>
    Cosine,
    /// <summary>The learning rate throughout; the warm-up is ignored, as in transformers.</summary>
    Constant,
    /// <summary>Warm-up, then the learning rate.</summary>
    ConstantWithWarmup,
}
