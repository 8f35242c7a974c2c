namespace Lwf.Grains.Membership;

/// <summary>What a <see cref="FileMembershipTable"/> file holds: the table's version and etag, and each silo's row with its own etag.</summary>
[GenerateSerializer]
internal sealed record FileMembershipTableState(
    [property: Id(0)] int Version,
    [property: Id(1)] string VersionEtag,
    [property: Id(2)] List<FileMembershipRow> Rows);
