using System.Runtime.InteropServices;

namespace Lwf.Core;

/// <summary>
/// glibc hands every allocation above 32 MiB to mmap and gives it back on free, so each training step
/// re-faults its gradients and optimizer temporaries page by page (on the 2-core machine: more system time
/// than compute for GPT-2-small). Keeping large blocks on the heap, and not trimming it, lets libtorch's
/// CPU allocations be reused from one step to the next.
/// </summary>
public static partial class NativeMemory
{
    private const int M_TRIM_THRESHOLD = -1;
    private const int M_MMAP_MAX = -4;

    [LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int MallOpt(int param, int value);

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>
    /// A long-lived process (a silo) has freed a model: collect the tensors left to the finalizer and hand the heap's
    /// free memory back to the kernel, which the setting above otherwise keeps for the next step.
    /// </summary>
    public static void GiveBack()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // not glibc: nothing to trim
        }
    }

    /// <summary>Applies the setting once per process; returns whether glibc accepted it.</summary>
    public static bool KeepLargeAllocationsOnHeap()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(M_MMAP_MAX, 0) == 1 && MallOpt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // not glibc (musl): leave the allocator alone
        }
    }
}
