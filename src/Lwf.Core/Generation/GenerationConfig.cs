using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Models;

namespace Lwf.Core.Generation;

/// <summary>What a model folder's generation_config.json says about stopping (its eos_token_id wins over config.json's).</summary>
public static class GenerationConfig
{
    public static long[] StopTokenIds(string modelDir, ModelConfig config)
    {
        string path = Path.Combine(modelDir, "generation_config.json");
        if (File.Exists(path))
        {
            try
            {
                var eos = (JsonNode.Parse(File.ReadAllText(path)) as JsonObject)?["eos_token_id"];
                if (eos is JsonArray list) return list.Select(n => n!.GetValue<long>()).ToArray();
                if (eos is not null) return [eos.GetValue<long>()];
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                throw new LwfInputException($"{path}: eos_token_id must be an integer or a list of integers ({e.Message})");
            }
        }
        return config.EosTokenIds.Select(i => (long)i).ToArray();
    }
}
