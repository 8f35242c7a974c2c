using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>
/// TorchSharp frees a <see cref="Scalar"/> in its finalizer, and its ops pass <c>Scalar.Handle</c> to libtorch without
/// keeping the Scalar reachable (no <c>GC.KeepAlive</c>). A temporary Scalar, whether ours (<c>t * 0.5</c>) or one that
/// TorchSharp makes inside (the alpha of 1 in <c>a + b</c> and <c>add_(b)</c>, the 2 of <c>square()</c>, the step of
/// <c>arange(a, b)</c>, AdamW's betas), can then be freed by the finalizer thread while libtorch still reads it: under
/// load CI saw "Unknown scalar type" from pow and "Expected false to be true" from add's toFloat. So constants live
/// here, for the process' lifetime, a value known only at run time is a <c>using</c> local, and the TorchSharp calls
/// that make Scalars of their own are replaced by the ones below, which compute the same ops. <c>ScalarLifetimeTests</c>
/// reads our IL for any other kind.
/// </summary>
public static class KeptScalars
{
    public static readonly Scalar Zero = 0, One = 1, Two = 2;

    /// <summary>a + b, as TorchSharp's operator computes it (alpha 1).</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b in place (alpha 1).</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a + s for a Scalar s (alpha 1).</summary>
    public static Tensor Plus(this Tensor a, Scalar s) => a.add(s, One);

    /// <summary>x², as TorchSharp's <c>square()</c> computes it (pow 2).</summary>
    public static Tensor Square(this Tensor x) => x.pow(Two);

    /// <summary>start, start + 1, …, stop − 1 as int64, as <c>arange(start, stop)</c>.</summary>
    public static Tensor Range(long start, long stop, Device device)
    {
        using Scalar from = start, to = stop;
        return arange(from, to, One, ScalarType.Int64, device);
    }

    /// <summary>
    /// softplus(x) = log(1 + eˣ), and x itself above 20: torch's <c>softplus</c> at its default β 1 and threshold 20.
    /// The exponential's branch sees x clamped at 20, so that where x is large its discarded gradient is 0, not 0·∞.
    /// </summary>
    public static Tensor Softplus(Tensor x)
    {
        using Scalar threshold = 20.0;
        return where(x.gt(threshold), x, x.clamp_max(threshold).exp().log1p());
    }
}
