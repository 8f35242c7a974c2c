using Lwf.Core.Generation;

namespace Lwf.Core.Forgetting;

public sealed record SelfGenerationOptions
{
    public GenerationOptions Generation { get; init; } = new();
    public int SamplesPerPrompt { get; init; } = 1;
    public int BatchSize { get; init; } = 16;

    public void Validate()
    {
        Generation.Validate();
        if (SamplesPerPrompt < 1) throw new LwfInputException($"samplesPerPrompt must be at least 1, got {SamplesPerPrompt}");
        if (SamplesPerPrompt > 1 && Generation.Greedy)
            throw new LwfInputException("samples_per_prompt > 1 needs sampling (greedy would repeat one answer): set temperature, top_p or top_k");
        if (BatchSize < 1) throw new LwfInputException($"batch size must be at least 1, got {BatchSize}");
    }
}
