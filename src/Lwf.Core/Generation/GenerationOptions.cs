namespace Lwf.Core.Generation;

public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 32;
    /// <summary>Greedy when true (the default); otherwise sample with temperature / top-k / top-p.</summary>
    public bool Greedy { get; init; } = true;
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep the smallest set of tokens whose probability reaches this; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Keep the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; } = 0;
    public long Seed { get; init; } = 0;
    public bool UseCache { get; init; } = true;
    /// <summary>Stop a row when it emits one of these (the EOS token is kept in its output).</summary>
    public long[] StopTokenIds { get; init; } = [];

    /// <summary>The most new tokens a generation may ask for (no model here has a context near it).</summary>
    public const int MaxTokensLimit = 8192;

    public void Validate()
    {
        if (MaxNewTokens is < 1 or > MaxTokensLimit) throw new LwfInputException($"max new tokens must be in 1..{MaxTokensLimit}, got {MaxNewTokens}");
        if (!Greedy && Temperature is not (> 0 and <= 100)) throw new LwfInputException($"temperature must be in (0, 100], got {Temperature}");
        if (TopP is not (> 0 and <= 1)) throw new LwfInputException($"top-p must be in (0, 1], got {TopP}");
        if (TopK < 0) throw new LwfInputException($"top-k must be ≥ 0, got {TopK}");
    }
}
