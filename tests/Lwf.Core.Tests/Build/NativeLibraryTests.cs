using System.Runtime.InteropServices;

namespace Lwf.Core.Tests.Build;

/// <summary>
/// The build marks TorchSharp's need for GLIBCXX_3.4.32 weak only where this host lacks that version,
/// only in the output copy, never in the NuGet cache.
/// </summary>
public sealed class NativeLibraryTests
{
    private const string Version = "GLIBCXX_3.4.32";

    private static string OutputCopy() =>
        Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories).Single();

    [Fact]
    public void TorchSharp_loads_here_without_any_environment_variable()
    {
        Assert.Null(Environment.GetEnvironmentVariable("LD_PRELOAD"));
        using var t = TorchSharp.torch.ones(3);
        Assert.Equal(3f, t.sum().item<float>());
    }

    [Fact]
    public void The_output_copy_is_weakened_exactly_when_the_host_lacks_the_version()
    {
        if (!OperatingSystem.IsLinux()) return;
        var needs = ElfVersionNeeds.Read(File.ReadAllBytes(OutputCopy()));
        var need = Assert.Single(needs, n => n.Version == Version);
        bool hostHasIt = ElfVersionNeeds.HostLibstdcxxHas(Version, out _);
        Assert.Equal(!hostHasIt, need.IsWeak);
        // Nothing else changed: every other need keeps its flags.
        Assert.All(needs.Where(n => n.Version != Version), n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void The_nuget_cache_copy_is_left_as_shipped()
    {
        if (!OperatingSystem.IsLinux()) return;
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string cached = Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(cached), cached);
        var need = Assert.Single(ElfVersionNeeds.Read(File.ReadAllBytes(cached)), n => n.Version == Version);
        Assert.False(need.IsWeak);
    }

    [Fact]
    public void Marking_weak_is_idempotent_and_touches_only_the_flag()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return;
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var original = File.ReadAllBytes(Path.Combine(packages, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so"));
        var patched = (byte[])original.Clone();
        Assert.True(ElfVersionNeeds.MarkWeak(patched, Version));
        Assert.False(ElfVersionNeeds.MarkWeak(patched, Version));
        Assert.Equal(1, original.Zip(patched).Count(p => p.First != p.Second));
    }
}
