using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>The pieces both model families share.</summary>
internal static class Layers
{
    /// <summary>
    /// Scaled dot-product attention on queries [B,H,T,D] and keys/values [B,KV,S,D]; grouped-query
    /// attention repeats each key/value head H/KV times. bias null = plain causal mask.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? bias)
    {
        long heads = q.shape[1], kvHeads = k.shape[1];
        if (kvHeads != heads)
        {
            k = k.repeat_interleave(heads / kvHeads, dim: 1);
            v = v.repeat_interleave(heads / kvHeads, dim: 1);
        }
        bool causal = bias is null && q.shape[2] > 1;
        return nn.functional.scaled_dot_product_attention(q, k, v, bias, 0.0, causal);
    }

    /// <summary>An activation by its Hugging Face name.</summary>
    public static Tensor Activate(string name, Tensor x) => name switch
    {
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" =>
            0.5 * x * (1.0 + tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * pow(x, 3.0)))),
        "gelu" => nn.functional.gelu(x),
        "relu" => nn.functional.relu(x),
        "silu" or "swish" => nn.functional.silu(x),
        _ => throw new LwfInputException($"activation '{name}' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu, silu)"),
    };
}
