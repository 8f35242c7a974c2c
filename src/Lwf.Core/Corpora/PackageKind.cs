namespace Lwf.Core.Corpora;

public enum PackageKind { Npm, Debian }
