using Lwf.Core.Checkpoints;
using Lwf.Tests;
using static TorchSharp.torch;

namespace Lwf.Grains.Tests;

/// <summary>The repository and temporary folders (tests/Shared/TestSupport.cs), and comparing saved models.</summary>
internal static class Repo
{
    public static string Root => TestSupport.RepoRoot;

    public static string Path(params string[] parts) => TestSupport.RepoPath(parts);

    public static string NewTempDir() => TestSupport.NewTempDir();

    /// <summary>Per tensor, the largest |a − b| relative to max |a|, over two saved models.</summary>
    public static double MaxRelativeDifference(string modelA, string modelB)
    {
        using var a = SafeTensorsFile.Open(System.IO.Path.Combine(modelA, "model.safetensors"));
        using var b = SafeTensorsFile.Open(System.IO.Path.Combine(modelB, "model.safetensors"));
        Assert.Equal(a.Entries.Keys.Order(), b.Entries.Keys.Order());
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
