namespace Lwf.Core.Models;

/// <summary>Rotary position embedding settings, from transformers-5 <c>rope_parameters</c> or older <c>rope_theta</c>/<c>rope_scaling</c>.</summary>
public sealed record RopeSettings(double Theta, string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositions)
{
    public static RopeSettings Parse(JsonFields config, int headDim)
    {
        var p = config.Object("rope_parameters") ?? config.Object("rope_scaling");
        double theta = p?.Double("rope_theta") ?? config.Double("rope_theta") ?? 10000.0;
        string type = p?.String("rope_type") ?? p?.String("type") ?? "default";
        double factor = p?.Double("factor") ?? 1.0;
        if (type is not ("default" or "linear" or "llama3"))
            throw new LwfInputException($"{config.Source}: rope type '{type}' is not supported (supported: default, linear, llama3)");
        return new RopeSettings(theta, type, factor,
            p?.Double("low_freq_factor") ?? 1.0,
            p?.Double("high_freq_factor") ?? 4.0,
            p?.Count("original_max_position_embeddings") ?? 8192);
    }

    /// <summary>Inverse frequencies [headDim/2], as transformers computes them.</summary>
    public double[] InverseFrequencies(int headDim)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            // transformers computes theta ** (arange(0, dim, 2, int64).float() / dim) in float32
            float exponent = (float)(2 * i) / headDim;
            inv[i] = 1.0 / (float)Math.Pow(Theta, exponent);
        }
        if (Type == "linear")
            for (int i = 0; i < inv.Length; i++) inv[i] /= Factor;
        else if (Type == "llama3")
        {
            double lowWavelen = OriginalMaxPositions / LowFreqFactor, highWavelen = OriginalMaxPositions / HighFreqFactor;
            for (int i = 0; i < inv.Length; i++)
            {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowWavelen) inv[i] /= Factor;
                else if (wavelen >= highWavelen)
                {
                    double smooth = (OriginalMaxPositions / wavelen - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / Factor + smooth * inv[i];
                }
            }
        }
        return inv;
    }
}
