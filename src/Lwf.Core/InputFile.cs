namespace Lwf.Core;

/// <summary>
/// What every file a user names as input must be: a regular file of bounded size. A device (`/dev/zero`), a pipe or
/// a socket reports no size, and reading one never ends or ends in a negative length deep inside a reader, so a file
/// of 0 bytes is refused before it is opened (an empty input has nothing to train on either).
/// </summary>
public static class InputFile
{
    /// <summary>The largest input file: far above any dataset or model shard this project reads, far below a disk.</summary>
    public const long MaxBytes = 256L << 30;

    /// <summary>Null when <paramref name="path"/> is a regular file of 1..<see cref="MaxBytes"/> bytes; else why not.</summary>
    public static string? Problem(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists) return Directory.Exists(path) ? "is a folder, not a file" : "not found";
        if (file.Length == 0) return "is empty, or not a regular file (a device, a pipe)";
        if (file.Length > MaxBytes) return $"is {file.Length} bytes, over the {MaxBytes >> 30} GiB an input file may be";
        return null;
    }

    /// <summary>Refuses <paramref name="path"/> with one line unless it is a regular file of bounded size.</summary>
    public static void Require(string path)
    {
        if (Problem(path) is { } problem) throw new LwfInputException($"{path}: {problem}");
    }
}
