using System.Text.Json.Nodes;
using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Generation;
using Lwf.Core.Training;
using static TorchSharp.torch;

namespace Lwf.Silo;

/// <summary>
/// Runs every operator the models use once, on one thread, before a process serves work from many threads.
/// libtorch registers some operator schemas on first use; two threads first using one operator at once
/// can trip its internal assert ("Tried to access the schema for aten::as_strided which doesn't have a
/// schema registered yet"), seen when a silo's trainer and shards started together.
/// </summary>
public static class TorchWarmup
{
    private static readonly Lazy<bool> Done = new(() =>
    {
        foreach (var json in new[]
        {
            """{"model_type":"gpt2","n_embd":8,"n_head":2,"n_layer":1,"n_positions":16,"vocab_size":32,"eos_token_id":1}""",
            """{"model_type":"llama","hidden_size":8,"num_attention_heads":2,"num_key_value_heads":1,"num_hidden_layers":1,"intermediate_size":16,"vocab_size":32,"max_position_embeddings":16,"eos_token_id":1}""",
        })
        {
            using var scope = NewDisposeScope();
            using var model = CausalLM.Create(ModelConfig.Parse(JsonNode.Parse(json)!.AsObject(), "warm-up"));
            model.InitializeWeights(0);
            var records = new List<TokenizedRecord> { new([2, 3, 4, 5], [false, true, true, true]), new([6, 7, 8], [false, true, true]) };
            using (var tuner = new FineTuner(model, new FineTuneOptions { Steps = 1, MicroBatchSize = 2 }, 0))
                tuner.Step([records]);
            TextGenerator.Generate(model, [[2L, 3], [4L]], new GenerationOptions { MaxNewTokens = 2 });
        }
        return true;
    });

    public static void Run() => _ = Done.Value;
}
