using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Grains.Tests;

internal static class Repo
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>This test process's temporary folders, removed when it exits (runs would otherwise fill the disk).</summary>
    private static readonly string TempRoot = CreateTempRoot();

    private static string CreateTempRoot()
    {
        string root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "lwf-grains-tests", $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        };
        return root;
    }

    public static string NewTempDir()
    {
        string dir = System.IO.Path.Combine(TempRoot, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Lwf.Orleans.sln"))) return dir.FullName;
        throw new InvalidOperationException("Lwf.Orleans.sln not found");
    }

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
