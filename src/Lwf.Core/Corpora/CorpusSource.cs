namespace Lwf.Core.Corpora;

/// <summary>
/// A package that carries real text, and what the tasks use from it. Npm versions are pinned (the registry
/// never changes a published version); Debian packages come at the version the configured archive serves,
/// recorded on fetch.
/// </summary>
public sealed record CorpusSource(string Name, PackageKind Kind, string Package, string? Version, string License, string LicenseFile, string Contents);
