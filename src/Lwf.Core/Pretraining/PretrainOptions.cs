namespace Lwf.Core.Pretraining;

/// <summary>The base model's shape and its training run; the defaults fit in about 10 minutes on 2 CPU cores.</summary>
public sealed record PretrainOptions
{
    public int Layers { get; init; } = 4;
    public int Embedding { get; init; } = 192;
    public int Heads { get; init; } = 4;
    /// <summary>Tokens per training window (and the model's positions).</summary>
    public int Context { get; init; } = 128;
    public int Steps { get; init; } = 800;
    public int BatchSize { get; init; } = 8;
    public double LearningRate { get; init; } = 2e-3;
    public long Seed { get; init; } = 42;
    /// <summary>Documents per general domain kept out of training, for the perplexity report.</summary>
    public int HeldOutDocuments { get; init; } = 30;
    /// <summary>At most this many training windows from one general domain, so that no corpus drowns the knowledge.</summary>
    public int MaxWindowsPerDomain { get; init; } = 600;
    /// <summary>
    /// How many times the knowledge domains (the forgetting tasks' facts and sayings) are in the mix: a fact seen
    /// once is not known, and a forgetting task only tests the paper when the base model knows what it forgets.
    /// </summary>
    public int KnowledgeRepeats { get; init; } = 60;
    /// <summary>cpu, cuda or auto. Not part of the cache fingerprint: the same options train the same model on any device.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Device { get; init; } = "cpu";

    public void Validate()
    {
        if (Layers < 1 || Embedding < 8 || Heads < 1 || Embedding % Heads != 0)
            throw new LwfInputException($"the model needs layers ≥ 1 and an embedding ≥ 8 divisible by the heads (got {Layers}, {Embedding}, {Heads})");
        if (Context < 8) throw new LwfInputException($"--context must be at least 8, got {Context}");
        if (Steps < 1 || BatchSize < 1) throw new LwfInputException($"--steps and --batch must be at least 1 (got {Steps}, {BatchSize})");
        if (!double.IsFinite(LearningRate) || LearningRate <= 0 || LearningRate > 1) throw new LwfInputException($"--lr must be in (0, 1], got {LearningRate}");
        if (HeldOutDocuments < 1 || MaxWindowsPerDomain < 1) throw new LwfInputException("held-out documents and windows per domain must be at least 1");
        if (KnowledgeRepeats is < 1 or > 1000) throw new LwfInputException($"--knowledge-repeats must be between 1 and 1000, got {KnowledgeRepeats}");
    }
}
