#nullable enable
// One file, two users: MSBuild compiles it as the inline task WeakenMissingLibstdcxxVersion
// (build/TorchSharpNative.targets), and tests/Lwf.Core.Tests links it (with LWF_NO_MSBUILD) to check
// what the build did. Keep it free of anything but the BCL.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

/// <summary>
/// Reads and edits the version needs (<c>.gnu.version_r</c>) of a 64-bit little-endian ELF shared library.
/// TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 for a single symbol,
/// <c>std::ios_base_library_init()</c>, that it never calls. Debian 12's libstdc++ stops at 3.4.30, so the
/// dynamic loader refuses the library. Marking that one need VER_FLG_WEAK turns the refusal into nothing.
/// </summary>
public static class ElfVersionNeeds
{
    public const ushort WeakFlag = 0x2; // VER_FLG_WEAK
    private const uint ShtGnuVerneed = 0x6ffffffe;

    // A plain class: MSBuild compiles inline tasks against netstandard, which has no records.
    public sealed class Need
    {
        public Need(string file, string version, ushort flags, int flagsOffset)
        {
            File = file; Version = version; Flags = flags; FlagsOffset = flagsOffset;
        }

        public string File { get; }
        public string Version { get; }
        public ushort Flags { get; }
        public int FlagsOffset { get; }
        public bool IsWeak => (Flags & WeakFlag) != 0;
    }

    public static List<Need> Read(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only 64-bit little-endian ELF is supported");
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        var needs = new List<Need>();
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(elf, (int)sh + 24);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 40);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 44);
            long strtab = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 24);
            long vn = offset;
            for (int n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)vn + 2);
                string file = CString(elf, strtab + BitConverter.ToUInt32(elf, (int)vn + 4));
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    string version = CString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8));
                    needs.Add(new Need(file, version, flags, (int)aux + 4));
                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }
                vn += BitConverter.ToUInt32(elf, (int)vn + 12);
            }
        }
        return needs;
    }

    /// <summary>Marks the need for <paramref name="version"/> weak; returns whether the bytes changed.</summary>
    public static bool MarkWeak(byte[] elf, string version)
    {
        bool changed = false;
        foreach (var need in Read(elf))
        {
            if (need.Version != version || need.IsWeak) continue;
            ushort flags = (ushort)(need.Flags | WeakFlag);
            elf[need.FlagsOffset] = (byte)(flags & 0xff);
            elf[need.FlagsOffset + 1] = (byte)(flags >> 8);
            changed = true;
        }
        return changed;
    }

    /// <summary>Whether the libstdc++ this host loads defines <paramref name="version"/>.</summary>
    public static bool HostLibstdcxxHas(string version, out string? library)
    {
        library = FindHostLibstdcxx();
        if (library == null) return false;
        byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
        byte[] bytes = File.ReadAllBytes(library);
        return IndexOf(bytes, needle) >= 0;
    }

    private static string? FindHostLibstdcxx()
    {
        // The one this very process has mapped is the one the loader will pick.
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                int slash = line.IndexOf('/');
                if (slash >= 0 && line.Contains("libstdc++.so")) return line.Substring(slash);
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/usr/lib/aarch64-linux-gnu" })
        {
            string path = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    private static string CString(byte[] bytes, long start)
    {
        int end = (int)start;
        while (bytes[end] != 0) end++;
        return Encoding.ASCII.GetString(bytes, (int)start, end - (int)start);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            if (haystack[i] != needle[0]) continue;
            int j = 1;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}

#if !LWF_NO_MSBUILD
/// <summary>
/// Build step: for each copied libLibTorchSharp.so, if this host's libstdc++ lacks a version the library
/// needs only for an uncalled symbol, mark that need weak. Writes a temporary file and renames it over the
/// copy, so the file in the NuGet cache (a hard link, if one was made) is never touched.
/// </summary>
public sealed class WeakenMissingLibstdcxxVersion : Microsoft.Build.Utilities.Task
{
    [Microsoft.Build.Framework.Required]
    public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

    [Microsoft.Build.Framework.Required]
    public string Version { get; set; } = "";

    public override bool Execute()
    {
        if (Libraries.Length == 0) return true;
        if (ElfVersionNeeds.HostLibstdcxxHas(Version, out var host))
        {
            Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, $"{host} has {Version}; TorchSharp's native library is left as shipped.");
            return true;
        }
        foreach (var item in Libraries)
        {
            string path = item.ItemSpec;
            byte[] bytes = File.ReadAllBytes(path);
            if (!ElfVersionNeeds.MarkWeak(bytes, Version)) continue;
            string tmp = path + ".lwf-tmp";
            File.WriteAllBytes(tmp, bytes);
            // Delete then move (not copy over): a hard link into the NuGet cache is unlinked, never written.
            File.Delete(path);
            File.Move(tmp, path);
            Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                $"{path}: marked the need for {Version} weak ({host ?? "no libstdc++ found"} lacks it).");
        }
        return true;
    }
}
#endif
