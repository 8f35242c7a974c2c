using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;

namespace Lwf.Core.Corpora;

public enum PackageKind { Npm, Debian }
