using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Lwf.Core.Jobs;

/// <summary>
/// One mapping of a job file, read key by key with errors that name the file, line, column and key.
/// Keys never read are reported as unknown (with the known ones listed), so a typo never passes silently.
/// </summary>
internal sealed class YamlSection
{
    private readonly string _file;
    private readonly YamlMappingNode _node;
    private readonly string _path;
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly DataRoot? _root;
    private readonly IReadOnlyDictionary<string, string> _renamed;
    private readonly IReadOnlyDictionary<string, string> _removed;
    private readonly List<(string Key, string Text)>? _pathsWritten;

    private YamlSection(string file, YamlMappingNode node, string path, DataRoot? root, IReadOnlyDictionary<string, string> renamed,
        IReadOnlyDictionary<string, string> removed, List<(string Key, string Text)>? pathsWritten)
    {
        _file = file; _node = node; _path = path; _root = root; _renamed = renamed; _removed = removed; _pathsWritten = pathsWritten;
    }

    /// <summary>
    /// The job file's root mapping; with a <paramref name="root"/>, every path it names is confined to it (<see cref="FilePath"/>).
    /// A key of <paramref name="renamed"/> (full dotted names) is refused with the name that replaced it; a key of
    /// <paramref name="removed"/> with what took its place.
    /// </summary>
    public static YamlSection LoadRoot(string file, DataRoot? root = null, IReadOnlyDictionary<string, string>? renamed = null,
        List<(string Key, string Text)>? pathsWritten = null, IReadOnlyDictionary<string, string>? removed = null)
    {
        if (!System.IO.File.Exists(file)) throw new LwfInputException($"{file}: job file not found");
        long bytes = new FileInfo(file).Length;
        if (bytes > MaxFileBytes) throw new LwfInputException($"{file}: a job file of {bytes:N0} bytes; the limit is {MaxFileBytes:N0}");
        var stream = new YamlStream();
        try
        {
            // The nesting is measured on the parser's events before any node is built: building nodes recurses, and a
            // file nested 200,000 deep overflowed the stack of the process that read it.
            using (var scan = new StreamReader(file))
            {
                var parser = new Parser(scan);
                int depth = 0;
                while (parser.MoveNext())
                {
                    if ((parser.Current is YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart) && ++depth > MaxDepth)
                        throw new LwfInputException($"{file}:{parser.Current!.Start.Line}:{parser.Current.Start.Column}: nested more than {MaxDepth} deep; a job file is a few levels of keys");
                    if (parser.Current is YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd) depth--;
                }
            }
            using var reader = new StreamReader(file);
            stream.Load(reader); // JSON is YAML too, so .json job files load the same way
        }
        catch (YamlException e)
        {
            throw new LwfInputException($"{file}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode doc)
            throw new LwfInputException($"{file}: a job file is a mapping of keys (model, data, train, ...)");
        var section = new YamlSection(file, doc, "", root, renamed ?? new Dictionary<string, string>(), removed ?? new Dictionary<string, string>(), pathsWritten);
        section.RejectRenamedKeys(); // before any key is read: an old file's first error is what to write instead
        return section;
    }

    public string File => _file;

    /// <summary>Far above any real job file; a bigger one is a mistake or an attack, refused before it is parsed.</summary>
    public const long MaxFileBytes = 1 << 20;

    /// <summary>Mappings and sequences inside each other, at most.</summary>
    public const int MaxDepth = 32;

    private string Name(string key) => _path.Length == 0 ? key : $"{_path}.{key}";

    private string Where(YamlNode node) => $"{_file}:{node.Start.Line}:{node.Start.Column}";

    /// <summary>file:line:column of a key's value (the file alone when the key is absent), for errors found after reading it.</summary>
    public string Where(string key) =>
        _node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? Where(value) : _file;

    private YamlNode? Get(string key)
    {
        _known.Add(key);
        return _node.Children.TryGetValue(new YamlScalarNode(key), out var value) && !IsNull(value) ? value : null;
    }

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    public YamlSection Section(string key)
    {
        var node = Get(key);
        if (node is null) return new YamlSection(_file, new YamlMappingNode(), Name(key), _root, _renamed, _removed, _pathsWritten);
        if (node is not YamlMappingNode map) throw new LwfInputException($"{Where(node)}: '{Name(key)}' must be a mapping of keys");
        return new YamlSection(_file, map, Name(key), _root, _renamed, _removed, _pathsWritten);
    }

    public string? String(string key)
    {
        var node = Get(key);
        if (node is null) return null;
        if (node is not YamlScalarNode scalar) throw new LwfInputException($"{Where(node)}: '{Name(key)}' must be a single value");
        return scalar.Value;
    }

    public string RequiredString(string key) =>
        String(key) ?? throw new LwfInputException($"{_file}:{_node.Start.Line}: missing key '{Name(key)}'");

    public int? Int(string key) => Parse(key, "an integer", s => int.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture));

    public long? Long(string key) => Parse(key, "an integer", s => long.Parse(s, NumberStyles.Integer, CultureInfo.InvariantCulture));

    /// <summary>A finite number: no knob means anything at NaN or infinity, and either would ruin a model silently.</summary>
    public double? Double(string key) => Parse(key, "a finite number", s =>
    {
        double value = double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(value) ? value : throw new FormatException();
    });

    public bool? Bool(string key) => Parse(key, "true or false", s => s.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" => true,
        "false" or "no" or "off" => false,
        _ => throw new FormatException(),
    });

    /// <summary>A value of <typeparamref name="T"/> by its snake_case name (constant_with_warmup for ConstantWithWarmup).</summary>
    public T? Enum<T>(string key) where T : struct, System.Enum
    {
        var text = String(key);
        if (text is null) return null;
        return SnakeCaseEnum.Parse<T>(text) ?? throw new LwfInputException($"{Where(Get(key)!)}: '{Name(key)}' must be one of {SnakeCaseEnum.Names<T>()}, got '{text}'");
    }

    /// <summary>A path relative to the job file's folder, inside the data root if there is one; must exist when <paramref name="mustExist"/>.</summary>
    public string? FilePath(string key, bool mustExist = true)
    {
        var text = String(key);
        if (text is null) return null;
        _pathsWritten?.Add((Name(key), text));
        string full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(_file))!, text));
        // Confined before it is looked at: whether a path outside the root exists is not the caller's to learn.
        _root?.Require(_file, Name(key), full);
        if (mustExist && !System.IO.File.Exists(full) && !Directory.Exists(full))
            throw new LwfInputException($"{Where(Get(key)!)}: '{Name(key)}': {text} not found ({full})");
        if (mustExist && !Directory.Exists(full) && InputFile.Problem(full) is { } problem)
            throw new LwfInputException($"{Where(Get(key)!)}: '{Name(key)}': {text} {problem}");
        return full;
    }

    private void RejectRenamedKeys()
    {
        foreach (var (keyNode, value) in _node.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key }) continue;
            if (_renamed.TryGetValue(Name(key), out var renamedTo))
                throw new LwfInputException($"{Where(keyNode)}: '{Name(key)}' was renamed to '{renamedTo}' (job files take Hugging Face TrainingArguments' names, snake_case)");
            if (_removed.TryGetValue(Name(key), out var replacedBy))
                throw new LwfInputException($"{Where(keyNode)}: '{Name(key)}' no longer exists: {replacedBy}");
            if (value is YamlMappingNode map) new YamlSection(_file, map, Name(key), _root, _renamed, _removed, _pathsWritten).RejectRenamedKeys();
        }
    }

    /// <summary>Refuses keys this section never asked for.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (keyNode, _) in _node.Children)
        {
            if (keyNode is not YamlScalarNode scalar)
                throw new LwfInputException($"{Where(keyNode)}: a key must be a plain name, not a {(keyNode is YamlSequenceNode ? "list" : "mapping")}");
            string key = scalar.Value ?? "";
            if (_known.Contains(key)) continue;
            string? suggestion = NearestName.Of(key, _known, maxEdits: 2);
            throw new LwfInputException($"{Where(keyNode)}: unknown key '{Name(key)}'" +
                (suggestion is null ? "" : $" (did you mean '{suggestion}'?)") + $"; known here: {string.Join(", ", _known)}");
        }
    }

    private T? Parse<T>(string key, string what, Func<string, T> parse) where T : struct
    {
        var text = String(key);
        if (text is null) return null;
        try
        {
            return parse(text);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new LwfInputException($"{Where(Get(key)!)}: '{Name(key)}' must be {what}, got '{text}'");
        }
    }
}
