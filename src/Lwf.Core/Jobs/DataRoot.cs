namespace Lwf.Core.Jobs;

/// <summary>
/// The folder a silo reads jobs from: the job file and every path it names (the model folder and each file in it,
/// the datasets) must lie under it once every symbolic link on the way is followed, so that neither "../" nor a
/// link placed inside the root reaches a file outside it.
/// </summary>
public sealed class DataRoot
{
    /// <summary>Symbolic links followed on one path before it is refused (Linux's own limit, ELOOP).</summary>
    public const int MaxLinks = 40;

    private readonly string _prefix;
    private readonly string _name;
    private readonly DataRoot? _except;

    /// <param name="name">What the folder is to the user, for messages ("the cluster's data root", "the upload folder").</param>
    /// <param name="except">
    /// A folder inside the root that is out of bounds all the same: the cluster's checkpoint volume, where other jobs'
    /// inputs, checkpoints and results lie (a job reads its own uploaded inputs through a root of their own).
    /// </param>
    public DataRoot(string root, string name = "the cluster's data root", string? except = null)
    {
        _name = name;
        Configured = root;
        RealPath = Resolve(root);
        _prefix = RealPath.EndsWith(Path.DirectorySeparatorChar) ? RealPath : RealPath + Path.DirectorySeparatorChar;
        if (except is not null) _except = new DataRoot(except, "the cluster's checkpoint volume");
    }

    /// <summary>The folder as configured (for messages).</summary>
    public string Configured { get; }

    /// <summary>The folder with every link resolved.</summary>
    public string RealPath { get; }

    /// <summary>Whether <paramref name="path"/>, links followed, is the root or under it.</summary>
    public bool Holds(string path)
    {
        string real = Resolve(path);
        return (real == RealPath || real.StartsWith(_prefix, StringComparison.Ordinal)) && _except?.HoldsResolved(real) != true;
    }

    private bool HoldsResolved(string real) => real == RealPath || real.StartsWith(_prefix, StringComparison.Ordinal);

    /// <summary>
    /// Whether the full path <paramref name="path"/> is the full path <paramref name="folder"/> or under it, by their
    /// names alone (no link followed); the root "/" holds everything.
    /// </summary>
    public static bool HoldsLexically(string folder, string path)
    {
        folder = Path.TrimEndingDirectorySeparator(folder);
        path = Path.TrimEndingDirectorySeparator(path);
        string prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path == folder || path.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>Refuses <paramref name="path"/> (named <paramref name="key"/> in <paramref name="source"/>) unless the root holds it.</summary>
    public void Require(string source, string key, string path)
    {
        if (Holds(path)) return;
        if (_except is not null && _except.HoldsResolved(Resolve(path)))
            throw new LwfInputException($"{source}: {key} {path} is in {_except._name} {_except.Configured}, which jobs do not read " +
                "(other jobs' inputs, checkpoints and results are there): give the job a copy of its own, or upload it (`lwf submit` without --on-cluster)");
        // Where a link leads is not told: the caller may be a stranger probing the silo's file system.
        bool lexicallyInside = HoldsLexically(Path.GetFullPath(Configured), Path.GetFullPath(path));
        throw new LwfInputException($"{source}: {key} {path} is outside {_name} {Configured}" +
            (lexicallyInside ? " (a symbolic link on the way leads out of it)" : ""));
    }

    /// <summary>Reads a job file once the root holds it (a file outside is not even parsed), and refuses it unless the root holds every path it names.</summary>
    /// <param name="pathsWritten">When given, receives every path key with the text the file gives it (before it is resolved).</param>
    public JobSpec Load(string jobFile, List<(string Key, string Text)>? pathsWritten = null)
    {
        Require(jobFile, "job file", jobFile);
        var spec = JobSpec.Load(jobFile, this, pathsWritten);
        Require(spec);
        return spec;
    }

    /// <summary>Every path the job names; of the model folder, every entry in it too (a link to a file outside is refused).</summary>
    public void Require(JobSpec spec)
    {
        Require(spec.SourcePath, "job file", spec.SourcePath);
        Require(spec.SourcePath, "model", spec.Model);
        if (Directory.Exists(spec.Model))
            foreach (string entry in Directory.EnumerateFileSystemEntries(spec.Model))
                Require(spec.SourcePath, "model", entry);
        foreach (var (key, path) in spec.Data.Named())
            if (path is not null) Require(spec.SourcePath, key, path);
    }

    /// <summary>
    /// The absolute path with every symbolic link along it followed, as realpath(3) gives it, except that a part
    /// that does not exist is kept as written (a file about to be made). ".." is taken after the links before it,
    /// as the kernel takes it.
    /// </summary>
    public static string Resolve(string path)
    {
        string absolute = Path.IsPathRooted(path) ? path : Path.Join(Directory.GetCurrentDirectory(), path);
        string root = Path.GetPathRoot(absolute)!;
        var parts = new Stack<string>(Parts(absolute[root.Length..]).Reverse());
        string resolved = root;
        int links = 0;
        while (parts.TryPop(out var part))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                resolved = Path.GetDirectoryName(resolved) ?? root;
                continue;
            }
            string next = Path.Join(resolved, part);
            string? target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                resolved = next;
                continue;
            }
            if (++links > MaxLinks) throw new LwfInputException($"{path}: more than {MaxLinks} symbolic links on the way (a loop?)");
            if (Path.IsPathRooted(target)) resolved = Path.GetPathRoot(target)!;
            foreach (string p in Parts(Path.IsPathRooted(target) ? target[Path.GetPathRoot(target)!.Length..] : target).Reverse())
                parts.Push(p);
        }
        return resolved;
    }

    private static string[] Parts(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}
