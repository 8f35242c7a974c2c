using System.Net;
using Lwf.Grains.Membership;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Lwf.Grains.Tests;

public sealed class FileMembershipTableTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(s => s.AddAssembly(typeof(FileMembershipTable).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    /// <summary>One silo's view of the table: each has its own instance, as each silo process does.</summary>
    private static FileMembershipTable Table(string directory) =>
        new(directory, Options.Create(new ClusterOptions { ClusterId = "lwf-test" }), Serializer, NullLogger<FileMembershipTable>.Instance);

    private static MembershipEntry Entry(int port) => new()
    {
        SiloAddress = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, port), 1), Status = SiloStatus.Joining,
        HostName = "localhost", SiloName = $"silo-{port}", StartTime = DateTime.UtcNow, IAmAliveTime = DateTime.UtcNow,
    };

#pragma warning disable CS0618 // the classic IMembershipTable methods are the ones Orleans 10 calls by default
    [Fact]
    public async Task A_write_from_a_stale_read_is_refused_and_every_silo_sees_every_change()
    {
        string dir = Repo.NewTempDir();
        var a = Table(dir);
        var b = Table(dir);
        await a.InitializeMembershipTable(true);
        await b.InitializeMembershipTable(true); // a second silo does not reset it
        var read = await a.ReadAll();
        Assert.True(await a.InsertRow(Entry(1001), read.Version.Next()));
        // b read before a wrote: its insert names a version that is gone.
        Assert.False(await b.InsertRow(Entry(1002), read.Version.Next()));
        var now = await b.ReadAll();
        Assert.Single(now.Members);
        Assert.Equal(1, now.Version.Version);
        Assert.False(await b.InsertRow(Entry(1001), now.Version.Next())); // one row per silo
        Assert.True(await b.InsertRow(Entry(1002), now.Version.Next()));

        // An update needs the row's etag and the table's version as read.
        var table = await a.ReadAll();
        var (row, etag) = table.Members.Single(m => m.Item1.SiloAddress.Endpoint.Port == 1001);
        row.Status = SiloStatus.Active;
        Assert.False(await a.UpdateRow(row, "stale", table.Version.Next()));
        Assert.True(await a.UpdateRow(row, etag, table.Version.Next()));
        Assert.False(await b.UpdateRow(row, etag, table.Version.Next())); // the same read, used twice
        var after = await b.ReadAll();
        Assert.Equal(SiloStatus.Active, after.Members.Single(m => m.Item1.SiloAddress.Endpoint.Port == 1001).Item1.Status);

        // I-am-alive moves the liveness time only: the version stays, so no other silo's pending write is refused.
        var alive = after.Members[0].Item1;
        alive.IAmAliveTime = DateTime.UtcNow.AddMinutes(1);
        await b.UpdateIAmAlive(alive);
        var later = await a.ReadAll();
        Assert.Equal(after.Version, later.Version);
        Assert.Equal(alive.IAmAliveTime, later.Members.Single(m => m.Item1.SiloAddress.Equals(alive.SiloAddress)).Item1.IAmAliveTime);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(a.FilePath));

        // Dead silos are removed once they are older than the cut-off, live ones never.
        var dead = later.Members.Single(m => m.Item1.SiloAddress.Endpoint.Port == 1002);
        dead.Item1.Status = SiloStatus.Dead;
        Assert.True(await a.UpdateRow(dead.Item1, dead.Item2, later.Version.Next()));
        await a.CleanupDefunctSiloEntries(DateTimeOffset.UtcNow.AddHours(1));
        Assert.Equal([1001], (await b.ReadAll()).Members.Select(m => m.Item1.SiloAddress.Endpoint.Port));
    }

    [Fact]
    public async Task Silos_racing_to_join_each_get_in_once_and_the_version_counts_every_write()
    {
        string dir = Repo.NewTempDir();
        var silos = Enumerable.Range(0, 4).Select(_ => Table(dir)).ToArray();
        await silos[0].InitializeMembershipTable(true);
        // 4 silos × 10 joins each, all at once, each retrying on a stale version as Orleans does.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(async () =>
        {
            var table = silos[i % 4];
            while (true)
            {
                var read = await table.ReadAll();
                if (await table.InsertRow(Entry(2000 + i), read.Version.Next())) return;
            }
        })));
        var all = await silos[3].ReadAll();
        Assert.Equal(Enumerable.Range(2000, 40), all.Members.Select(m => m.Item1.SiloAddress.Endpoint.Port).Order());
        Assert.Equal(40, all.Version.Version);
    }
#pragma warning restore CS0618
}
