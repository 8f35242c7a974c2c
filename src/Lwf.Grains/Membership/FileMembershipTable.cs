using Lwf.Core.IO;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace Lwf.Grains.Membership;

/// <summary>
/// Orleans' membership table in a file that every silo of one machine shares (`lwf cluster up`'s default): unlike
/// localhost clustering, where the first silo holds the table in its memory and the cluster is lost with it, any silo
/// may die and the others go on. Each change is a read-modify-write under an exclusive lock on a sibling lock file
/// (flock: the kernel lets it go when its holder dies, even by SIGKILL), written to a temporary file and renamed over
/// the table, so that a reader sees the old table or the new one, never half of one. The version checks are those of
/// Orleans' other tables: a write names the table version it read, and fails if another silo has written since.
/// </summary>
public sealed partial class FileMembershipTable : IMembershipTable
{
    /// <summary>How long a change waits for another silo's lock before it fails (Orleans retries it).</summary>
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _table, _lock;
    private readonly Serializer _serializer;
    private readonly ILogger<FileMembershipTable> _logger;
    private readonly SemaphoreSlim _local = new(1, 1);

    public FileMembershipTable(string directory, IOptions<ClusterOptions> cluster, Serializer serializer, ILogger<FileMembershipTable> logger)
    {
        Directory.CreateDirectory(directory);
        string name = string.Concat(cluster.Value.ClusterId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        _table = Path.Combine(directory, name + ".membership");
        _lock = _table + ".lock";
        _serializer = serializer;
        _logger = logger;
    }

    /// <summary>The table's file (for messages and tests).</summary>
    public string FilePath => _table;

    public Task InitializeMembershipTable(bool tryInitTableVersion) => Locked(state =>
    {
        if (state is null && tryInitTableVersion) return (new FileMembershipTableState(0, "0", []), true);
        return (state, false);
    });

    public Task DeleteMembershipTableEntries(string clusterId) => Locked(_ => ((FileMembershipTableState?)null, true));

    public Task CleanupDefunctSiloEntries(DateTimeOffset beforeDate) => Locked(state =>
    {
        if (state is null) return (state, false);
        var keep = state.Rows.Where(r => !(r.Entry.Status == SiloStatus.Dead && Later(r.Entry) < beforeDate.UtcDateTime)).ToList();
        return keep.Count == state.Rows.Count ? (state, false) : (state with { Rows = keep }, true);
    });

    public async Task<MembershipTableData> ReadRow(SiloAddress key)
    {
        var state = await Read();
        return Data(state, state.Rows.Where(r => r.Entry.SiloAddress.Equals(key)));
    }

    public async Task<MembershipTableData> ReadAll()
    {
        var state = await Read();
        return Data(state, state.Rows);
    }

    public async Task<bool> InsertRow(MembershipEntry entry, TableVersion tableVersion)
    {
        bool inserted = false;
        await Locked(state =>
        {
            state ??= new FileMembershipTableState(0, "0", []);
            if (state.VersionEtag != tableVersion.VersionEtag || state.Rows.Any(r => r.Entry.SiloAddress.Equals(entry.SiloAddress))) return (state, false);
            inserted = true;
            return (Versioned(state, tableVersion, [.. state.Rows, new FileMembershipRow(entry, NewEtag())]), true);
        });
        return inserted;
    }

    public async Task<bool> UpdateRow(MembershipEntry entry, string etag, TableVersion tableVersion)
    {
        bool updated = false;
        await Locked(state =>
        {
            if (state is null || state.VersionEtag != tableVersion.VersionEtag) return (state, false);
            int i = state.Rows.FindIndex(r => r.Entry.SiloAddress.Equals(entry.SiloAddress));
            if (i < 0 || state.Rows[i].Etag != etag) return (state, false);
            var rows = new List<FileMembershipRow>(state.Rows) { [i] = new FileMembershipRow(entry, NewEtag()) };
            updated = true;
            return (Versioned(state, tableVersion, rows), true);
        });
        return updated;
    }

    public Task UpdateIAmAlive(MembershipEntry entry) => Locked(state =>
    {
        int i = state?.Rows.FindIndex(r => r.Entry.SiloAddress.Equals(entry.SiloAddress)) ?? -1;
        if (i < 0) throw new InvalidOperationException($"membership table {_table}: no row for {entry.SiloAddress}");
        // The liveness time alone changes: not the row's etag, not the table's version (as in Orleans' own tables).
        var row = state!.Rows[i];
        row.Entry.IAmAliveTime = entry.IAmAliveTime; // a copy read from the file a moment ago
        return (state, true);
    });

    private static DateTime Later(MembershipEntry e) => e.IAmAliveTime > e.StartTime ? e.IAmAliveTime : e.StartTime;

    private static FileMembershipTableState Versioned(FileMembershipTableState state, TableVersion next, List<FileMembershipRow> rows) =>
        new(next.Version, NewEtag(), rows);

    private static string NewEtag() => Guid.NewGuid().ToString("N");

    private static MembershipTableData Data(FileMembershipTableState state, IEnumerable<FileMembershipRow> rows) =>
        new(rows.Select(r => Tuple.Create(r.Entry, r.Etag)).ToList(), new TableVersion(state.Version, state.VersionEtag));

    /// <summary>A read takes no lock: every write replaces the file by rename, so a reader sees one whole table or the other.</summary>
    private async Task<FileMembershipTableState> Read()
    {
        try
        {
            return _serializer.Deserialize<FileMembershipTableState>(await File.ReadAllBytesAsync(_table))
                ?? throw new InvalidOperationException($"membership table {_table} is empty");
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidOperationException($"membership table {_table} does not exist yet", e);
        }
    }

    /// <summary>Runs <paramref name="change"/> on the table under the lock; writes what it returns when it says so (null: the file is removed).</summary>
    private async Task Locked(Func<FileMembershipTableState?, (FileMembershipTableState? State, bool Write)> change)
    {
        await _local.WaitAsync();
        try
        {
            using var held = await AcquireLock();
            var current = File.Exists(_table) ? _serializer.Deserialize<FileMembershipTableState>(await File.ReadAllBytesAsync(_table)) : null;
            var (next, write) = change(current);
            if (!write) return;
            if (next is null)
            {
                File.Delete(_table);
                return;
            }
            byte[] bytes = _serializer.SerializeToArray(next);
            AtomicFile.Write(_table, stream => stream.Write(bytes), OwnerOnly);
        }
        finally
        {
            _local.Release();
        }
    }

    private async Task<FileStream> AcquireLock()
    {
        var deadline = DateTime.UtcNow + LockTimeout;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                // FileShare.None is an exclusive flock on Linux: another silo's open fails until this one is disposed.
                var open = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) open.UnixCreateMode = OwnerOnly;
                return new FileStream(_lock, open);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(Math.Min(50, 5 * (attempt + 1)));
            }
            catch (IOException e)
            {
                LogLockTimeout(_logger, _lock, LockTimeout.TotalSeconds);
                throw new TimeoutException($"membership table {_table}: its lock {_lock} was held for more than {LockTimeout.TotalSeconds:F0} s", e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "membership lock {Lock} not acquired within {Seconds} s")]
    private static partial void LogLockTimeout(ILogger logger, string @lock, double seconds);
}
