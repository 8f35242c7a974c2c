using Lwf.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Generation;

/// <summary>
/// Batched autoregressive generation. Prompts are left-padded; positions count real tokens only
/// (as transformers' generate does), so a row gives the same tokens alone or in a batch.
/// </summary>
public static class TextGenerator
{
    /// <summary>Returns the new tokens of each prompt, EOS included where a row stopped on it.</summary>
    public static List<long[]> Generate(CausalLM model, IReadOnlyList<long[]> prompts, GenerationOptions options)
    {
        options.Validate();
        if (prompts.Count == 0) return [];
        if (prompts.Any(p => p.Length == 0)) throw new LwfInputException("a prompt is empty: give at least one token");
        int longest = prompts.Max(p => p.Length);
        if (longest + options.MaxNewTokens > model.Config.MaxPositions)
            throw new LwfInputException($"prompt ({longest} tokens) + max new tokens ({options.MaxNewTokens}) exceeds the model's {model.Config.MaxPositions} positions");

        var device = model.Device;
        int rows = prompts.Count;
        long pad = model.Config.PaddingId;
        var ids = new long[rows * longest];
        var mask = new long[rows * longest];
        for (int b = 0; b < rows; b++)
        {
            int offset = longest - prompts[b].Length;
            Array.Fill(ids, pad, b * longest, offset);
            Array.Copy(prompts[b], 0, ids, b * longest + offset, prompts[b].Length);
            Array.Fill(mask, 1L, b * longest + offset, prompts[b].Length);
        }

        var outputs = Enumerable.Range(0, rows).Select(_ => new List<long>()).ToList();
        var finished = new bool[rows];
        var stop = new HashSet<long>(options.StopTokenIds);
        using var generator = options.Greedy ? null : new torch.Generator((ulong)options.Seed, device);
        using var cache = options.UseCache ? new KvCache(model.Config.NumLayers) : null;
        using var _ = no_grad();
        using var weightCasts = model.Autocast.CacheWeights();

        var sequence = tensor(ids, [rows, longest], ScalarType.Int64).to(device).DetachFromDisposeScope();
        var attention = tensor(mask, [rows, longest], ScalarType.Int64).to(device).DetachFromDisposeScope();
        Tensor step = sequence.alias().DetachFromDisposeScope();
        try
        {
            for (int n = 0; n < options.MaxNewTokens; n++)
            {
                using var scope = NewDisposeScope();
                // Position of each token = count of real tokens before it; padding gets 1 (ignored anyway).
                var positions = attention.cumsum(1, ScalarType.Int64).sub(KeptScalars.One);
                positions = positions.masked_fill(attention.eq(KeptScalars.Zero), KeptScalars.One);
                Tensor logits = options.UseCache
                    ? model.Forward(step, attention, positions.narrow(1, positions.shape[1] - step.shape[1], step.shape[1]), cache)
                    : model.Forward(sequence, attention, positions);
                var last = logits.select(1, logits.shape[1] - 1);                           // [B,V]
                var next = options.Greedy ? last.argmax(-1) : Sample(last, options, generator!); // [B]
                var chosen = next.cpu().data<long>().ToArray();
                for (int b = 0; b < rows; b++)
                {
                    if (finished[b]) { chosen[b] = pad; continue; }
                    outputs[b].Add(chosen[b]);
                    if (stop.Contains(chosen[b])) finished[b] = true;
                }
                if (finished.All(f => f)) break;
                var nextIds = tensor(chosen, [rows, 1], ScalarType.Int64).to(device);
                var nextMask = tensor(finished.Select(f => f ? 0L : 1L).ToArray(), [rows, 1], ScalarType.Int64).to(device);
                Replace(ref sequence, cat([sequence, nextIds], 1));
                Replace(ref attention, cat([attention, nextMask], 1));
                Replace(ref step, nextIds);
            }
        }
        finally
        {
            sequence.Dispose();
            attention.Dispose();
            step.Dispose();
        }
        return outputs.Select(o => o.ToArray()).ToList();
    }

    private static void Replace(ref Tensor slot, Tensor value)
    {
        var old = slot;
        slot = value.DetachFromDisposeScope();
        old.Dispose();
    }

    private static Tensor Sample(Tensor logits, GenerationOptions options, torch.Generator generator)
    {
        using Scalar temperature = options.Temperature, minusInfinity = double.NegativeInfinity, topP = options.TopP;
        var scores = logits.div(temperature);
        if (options.TopK > 0 && options.TopK < scores.shape[1])
        {
            var kth = scores.topk(options.TopK, dim: -1).values.narrow(1, options.TopK - 1, 1); // [B,1]
            scores = scores.masked_fill(scores.lt(kth), minusInfinity);
        }
        if (options.TopP < 1.0)
        {
            var (sorted, order) = scores.sort(-1, descending: true);
            var cumulative = sorted.softmax(-1).cumsum(-1);
            // Drop a token when the tokens before it already reach top-p; the first token always stays.
            var drop = (cumulative - sorted.softmax(-1)).gt(topP);
            var dropUnsorted = zeros_like(drop).scatter(-1, order, drop);
            scores = scores.masked_fill(dropUnsorted, minusInfinity);
        }
        return scores.softmax(-1).multinomial(1, false, generator).squeeze(-1);
    }
}
