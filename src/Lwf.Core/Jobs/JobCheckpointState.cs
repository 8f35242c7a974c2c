using Lwf.Core.IO;
using System.Text.Json;
using Lwf.Core.Checkpoints;
using Lwf.Core.Reports;

namespace Lwf.Core.Jobs;

/// <summary>
/// What a job's checkpoint holds besides tensors (lwf_state.json): the learning step reached, the samplers'
/// positions, the forgetting set D_U, and the report so far. With the model's files, optimizer.bin,
/// fisher.safetensors and samples.jsonl it is everything the loop needs to go on as if it had never stopped. The
/// cluster's trainer also records it after every learning step (the live state), with <see cref="StepPending"/>: the
/// rest of step <see cref="Step"/> (its refresh, evaluation and checkpoint, each done again harmlessly) is still to do.
/// </summary>
public sealed record JobCheckpointState(
    int Step,
    long LearningDrawn,
    long ForgettingSamplerSeed,
    long ForgettingDrawn,
    int[] ForgetSet,
    bool HasFisher,
    LwfReport Report,
    bool StepPending = false)
{
    public const string StateFile = "lwf_state.json";
    public const string OptimizerFile = "optimizer.bin";
    public const string FisherFile = "fisher.safetensors";
    public const string SamplesFile = "samples.jsonl";

    /// <summary>The files of the job's output folder a resumed run must find again (written before the loop).</summary>
    public static readonly string[] OutputFiles = ["selfgen.jsonl", "confidence.jsonl"];

    public void Write(string checkpointDirectory) =>
        AtomicFile.WriteText(Path.Combine(checkpointDirectory, StateFile), JsonSerializer.Serialize(this, CheckpointStore.Json));

    public static JobCheckpointState Read(Checkpoint checkpoint) => Read(checkpoint.Directory);

    public static JobCheckpointState Read(string directory)
    {
        string path = Path.Combine(directory, StateFile);
        try
        {
            return JsonSerializer.Deserialize<JobCheckpointState>(File.ReadAllText(path), CheckpointStore.Json)
                ?? throw new LwfInputException($"{path}: empty");
        }
        catch (JsonException e)
        {
            throw new LwfInputException($"{path}: not a trainer state ({e.Message})");
        }
    }
}
