using Lwf.Core.Models;

namespace Lwf.Core.Generation;

/// <summary>What a model folder's generation_config.json says about stopping (its eos_token_id wins over config.json's).</summary>
public static class GenerationConfig
{
    public static long[] StopTokenIds(string modelDir, ModelConfig config)
    {
        string path = Path.Combine(modelDir, "generation_config.json");
        if (File.Exists(path) && JsonFields.Parse(File.ReadAllText(path), path).Longs("eos_token_id") is { } eos) return eos;
        return config.EosTokenIds.Select(i => (long)i).ToArray();
    }
}
