using System.Text.Json;
using Lwf.Core.Checkpoints;
using Lwf.Core.Forgetting;

namespace Lwf.Grains;

/// <summary>A shard's self-generated samples on the shared work volume (JSON Lines), written atomically.</summary>
internal static class SampleFile
{
    public static void Write(string path, IEnumerable<SelfGeneratedSample> samples) =>
        AtomicFile.WriteText(path, string.Concat(samples.Select(s => JsonSerializer.Serialize(s) + "\n")));

    public static List<SelfGeneratedSample> Read(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<SelfGeneratedSample>(l)!).ToList();
}
