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
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => GeluTanh(x),
        "gelu" => nn.functional.gelu(x),
        "relu" => nn.functional.relu(x),
        "silu" or "swish" => nn.functional.silu(x),
        _ => throw new LwfInputException($"activation '{name}' is not supported (gelu_new, gelu_pytorch_tanh, gelu, relu, silu)"),
    };

    /// <summary>
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), transformers' NewGELU, with its Scalars kept alive (<see cref="KeptScalars"/>).
    /// </summary>
    private static Tensor GeluTanh(Tensor x)
    {
        using Scalar half = 0.5, one = 1.0, root = Math.Sqrt(2.0 / Math.PI), cubic = 0.044715;
        var cube = x * x * x;
        return cube.mul(cubic).Plus(x).mul(root).tanh().Plus(one).mul(x).mul(half);
    }
}
