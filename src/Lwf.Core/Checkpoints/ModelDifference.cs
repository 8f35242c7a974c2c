using static TorchSharp.torch;

namespace Lwf.Core.Checkpoints;

/// <summary>How far apart two saved models' weights are: what a changed layout or a recovery may change by a rounding.</summary>
public static class ModelDifference
{
    /// <summary>Per tensor, the largest |a − b| relative to max |a|, the worst over every tensor of two model folders' model.safetensors.</summary>
    public static double MaxRelative(string modelA, string modelB)
    {
        using var a = SafeTensorsFile.Open(Path.Combine(modelA, "model.safetensors"));
        using var b = SafeTensorsFile.Open(Path.Combine(modelB, "model.safetensors"));
        if (!a.Entries.Keys.Order().SequenceEqual(b.Entries.Keys.Order()))
            throw new LwfInputException($"{modelA} and {modelB} hold different tensors");
        double worst = 0;
        foreach (var name in a.Entries.Keys)
        {
            using var ta = a.Read(name).to(ScalarType.Float64);
            using var tb = b.Read(name).to(ScalarType.Float64);
            double scale = ta.abs().max().item<double>();
            worst = Math.Max(worst, (ta - tb).abs().max().item<double>() / Math.Max(scale, 1e-30));
        }
        return worst;
    }
}
