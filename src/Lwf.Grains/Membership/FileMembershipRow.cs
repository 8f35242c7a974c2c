namespace Lwf.Grains.Membership;

[GenerateSerializer]
internal sealed record FileMembershipRow(
    [property: Id(0)] MembershipEntry Entry,
    [property: Id(1)] string Etag);
