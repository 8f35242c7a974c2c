using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;

namespace Lwf.Core.Corpora;

/// <summary>What was fetched: DIR/NAME/.source.json, and all of them in DIR/sources.json.</summary>
public sealed record FetchedSource(string Name, string Kind, string Package, string Version, string License, string LicenseFile,
    string ArchiveSha256, DateTimeOffset Fetched);
