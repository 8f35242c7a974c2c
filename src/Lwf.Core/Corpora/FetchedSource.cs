namespace Lwf.Core.Corpora;

/// <summary>What was fetched: DIR/NAME/.source.json, and all of them in DIR/sources.json.</summary>
public sealed record FetchedSource(string Name, string Kind, string Package, string Version, string License, string LicenseFile,
    string ArchiveSha256, DateTimeOffset Fetched);
