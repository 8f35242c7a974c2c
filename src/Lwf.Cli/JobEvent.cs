using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lwf.Cli;

/// <summary>One line of `lwf watch --json`: a job's phase, step or checkpoint changed, or it ended.</summary>
internal sealed record JobEvent(
    DateTimeOffset Time, string Job, string Event, string Phase, int Step, int TotalSteps,
    double? Loss, double? ForgettingLoss, double? InputTokensPerSecond, int? Checkpoint, string? Trainer, string? Message)
{
    /// <summary>The event kinds: the job was submitted (`lwf submit --wait --json`), the phase changed, a step or checkpoint was made, the job ended.</summary>
    public const string Submitted = "submitted", PhaseChanged = "phase", StepTaken = "step", Ended = "end";

    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Options);
}
