using Lwf.Core.IO;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace Lwf.Grains.Jobs;

/// <summary>
/// Grain storage in the job's folder on the checkpoint volume: <c>{CheckpointDirectory}/{key}/{state}.json</c>,
/// written atomically, with an ETag so that a stale activation cannot overwrite a newer record. It lives
/// beside the job's checkpoints on purpose: whatever silo can read the checkpoints can read the job, and a
/// job outlives every silo (memory storage would die with the silo that held it).
/// </summary>
public sealed class JobFolderStorage(IOptions<LwfSiloOptions> options) : IGrainStorage
{
    public const string Name = "jobs";

    private sealed record Envelope<T>(string ETag, T State);

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private string PathOf(string stateName, GrainId grainId) => PathOf(options.Value.CheckpointDirectory, grainId.Key.ToString()!, stateName);

    public static string PathOf(string checkpointDirectory, string key, string stateName)
    {
        if (!JobIds.IsValid(key)) throw new ArgumentException($"'{key}' cannot name a job folder");
        return Path.Combine(checkpointDirectory, key, stateName + ".json");
    }

    /// <summary>Reads a record without a grain (the watchdog and the job list); null when there is none.</summary>
    public static T? Read<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        return JsonSerializer.Deserialize<Envelope<T>>(File.ReadAllText(path), Json)?.State;
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (!JobIds.IsValid(grainId.Key.ToString()!)) return Task.CompletedTask; // no folder, no record: the grain refuses the id
        string path = PathOf(stateName, grainId);
        if (File.Exists(path) && JsonSerializer.Deserialize<Envelope<T>>(File.ReadAllText(path), Json) is { } envelope)
        {
            grainState.State = envelope.State;
            grainState.ETag = envelope.ETag;
            grainState.RecordExists = true;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathOf(stateName, grainId);
        CheckETag<T>(path, grainState.ETag);
        string etag = Guid.NewGuid().ToString("N");
        AtomicFile.WriteText(path, JsonSerializer.Serialize(new Envelope<T>(etag, grainState.State!), Json));
        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        string path = PathOf(stateName, grainId);
        CheckETag<T>(path, grainState.ETag);
        File.Delete(path);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private static void CheckETag<T>(string path, string? expected)
    {
        string? current = File.Exists(path) ? JsonSerializer.Deserialize<Envelope<T>>(File.ReadAllText(path), Json)?.ETag : null;
        if (current != expected)
            throw new InconsistentStateException($"{path} was written by another activation (ETag {current}, this one read {expected})", current, expected);
    }
}
