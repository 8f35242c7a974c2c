using Lwf.Abstractions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Placement;

namespace Lwf.Grains.Collectives;

/// <summary>
/// Runs a job's collective (DESIGN.md §2): the ring is the silos that hold the job's shards, ranked in address
/// order (a fixed order, so a layout's sums are deterministic), numbered by an epoch. For a step it tells each
/// silo's lead shard to add up its silo's shards and all-reduce with its neighbours, and, once every silo has
/// the reduced gradient, to apply it: a step is applied everywhere or nowhere, so a failed one is redone from the
/// survivors' state. A member that fails ends the attempt (the others' collectives are aborted), the ring is
/// re-formed at a new epoch with the shards re-activated on the live silos, replicas that are behind take a peer's
/// state, and the operation is tried again. The bytes go peer to peer; only ids, totals and hashes pass here.
/// </summary>
[PreferLocalPlacement]
public sealed partial class CoordinatorGrain(IHostApplicationLifetime lifetime, IClusterMembershipService membership, ILocalSiloDetails localSilo,
    Lwf.Grains.Telemetry.LwfMetrics metrics, ILogger<CoordinatorGrain> logger)
    : Grain, ICoordinatorGrain
{
    // A dead silo is declared dead by membership within tens of seconds: keep retrying that long.
    private const int Attempts = 40;
    private JobSetup? _setup;
    private readonly Dictionary<int, ShardInfo> _shards = [];
    private Ring? _ring;
    // Epochs grow across activations too (they start from the clock): a coordinator activated anew after its silo
    // died never reuses the keys of the old ring's frames, which a survivor's data plane may still hold or discard
    // (a reused key that was discarded would leave the new ring waiting out the collective timeout).
    private long _epoch = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
    private long _operation;
    private DateTimeOffset _lastProgress = DateTimeOffset.UtcNow;
    private RecoveryTimeline? _recovery; // from a failure to the first operation done after it

    /// <summary>A formed ring: members by rank, each with its lead shard and its shards.</summary>
    private sealed record Ring(long Epoch, Member[] Members)
    {
        public RingLayout Layout(int rank) => new(Epoch, rank, Members.Select(m => m.Endpoint).ToArray());
    }

    private sealed record Member(string Silo, string Endpoint, int Leader, int[] Shards);

    private string JobId => this.GetPrimaryKeyString();

    private IShardGrain Shard(int index) => GrainFactory.GetGrain<IShardGrain>(new ShardKey(JobId, index).ToString());

    private JobSetup Setup => _setup ?? throw new InvalidOperationException("the job is not prepared");

    public async ValueTask<PreparedJob> Prepare(JobSetup setup)
    {
        _setup = setup;
        _recovery = setup.StalledSince is { } stalled ? new RecoveryTimeline($"the trainer's silo stopped; resumed on {localSilo.SiloAddress.Endpoint}", stalled, DateTimeOffset.UtcNow) : null;
        var infos = await Task.WhenAll(Enumerable.Range(0, setup.ShardCount).Select(i => PrepareShard(i, setup.Resume)));
        var ring = await FormRing(setup.Resume, fresh: setup.Resume is null);
        _recovery?.RingFormed(DateTimeOffset.UtcNow);
        LogRingFormed(logger, JobId, ring.Epoch, ring.Members.Length, string.Join(", ", ring.Members.Select(m => m.Silo)));
        if (_recovery is null) _lastProgress = DateTimeOffset.UtcNow;
        return new PreparedJob(infos.Sum(i => i.LearningRecords), infos[0].Parameters, CountShards());
    }

    private async Task<ShardInfo> PrepareShard(int index, ResumeSetup? resume = null)
    {
        var s = Setup;
        var info = await Shard(index).Prepare(new ShardSetup(s.JobFile, index, s.ShardCount, s.WorkDirectory, resume));
        lock (_shards) _shards[index] = info;
        return info;
    }

    private Dictionary<string, int> CountShards()
    {
        lock (_shards) return _shards.Values.GroupBy(i => i.Silo).ToDictionary(g => g.Key, g => g.Count());
    }

    /// <summary>
    /// Forms the ring from where the shards are now. When the replicas disagree on their position (a replica new on
    /// a silo, or one a failed step left behind), the ones behind take the state of one that is furthest on. A job
    /// resumed from a checkpoint: replicas not at the checkpoint's position reload it. A job resumed from its
    /// surviving replicas: one of them must be at the position the trainer last recorded, and the others (new,
    /// or a step ahead of what the trainer recorded) take its state; when none is, the resume fails (the trainer
    /// then resumes from its newest checkpoint). A job started afresh (<paramref name="fresh"/>): every replica
    /// starts from the base model, and one an earlier activation of the job moved on is restarted (a trainer that died
    /// before it recorded its first step left replicas a step on, and the new one's first step became their second).
    /// </summary>
    private async Task<Ring> FormRing(ResumeSetup? resume = null, bool fresh = false)
    {
        List<ShardInfo> infos;
        lock (_shards) infos = _shards.Values.ToList();
        var members = infos.GroupBy(i => i.Silo).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new Member(g.Key, g.First().DataPlane, g.Min(i => i.ShardIndex), g.Select(i => i.ShardIndex).Order().ToArray()))
            .ToArray();
        var ring = new Ring(++_epoch, members);
        var positions = await Task.WhenAll(members.Select(m => Shard(m.Leader).Position().AsTask()));
        if (resume is not null)
        {
            var target = new ReplicaPosition(resume.LearningSteps, resume.HasFisher);
            if (resume.Directory is { } checkpoint)
                await Task.WhenAll(members.Where((_, r) => positions[r] != target).Select(m => Shard(m.Leader).LoadState(checkpoint, target).AsTask()));
            else
            {
                int source = Array.IndexOf(positions, target);
                if (source < 0)
                    throw new InvalidOperationException($"no surviving replica is at learning step {target.LearningSteps} " +
                        $"(they are at {string.Join(", ", members.Select((m, r) => $"{m.Silo}: {positions[r].LearningSteps}"))})");
                await CatchUp(ring, positions, source);
            }
        }
        else if (fresh)
        {
            var start = new ReplicaPosition(0, false);
            var moved = members.Select((m, r) => (Member: m, Position: positions[r])).Where(x => x.Position != start).ToList();
            if (moved.Count > 0)
            {
                LogRestarting(logger, JobId, string.Join(", ", moved.Select(x => $"{x.Member.Silo} (at learning step {x.Position.LearningSteps})")));
                await Task.WhenAll(moved.Select(x => Shard(x.Member.Leader).Restart().AsTask()));
            }
        }
        else if (positions.Distinct().Count() > 1)
            await CatchUp(ring, positions, Enumerable.Range(0, members.Length).MaxBy(r => (positions[r].LearningSteps, positions[r].HasFisher ? 1 : 0)));
        _ring = ring;
        return ring;
    }

    /// <summary>The members not at <paramref name="source"/>'s position take its replica's state, through a folder in the job's work directory.</summary>
    private async Task CatchUp(Ring ring, ReplicaPosition[] positions, int source)
    {
        var members = ring.Members;
        var behind = members.Where((_, r) => positions[r] != positions[source]).ToList();
        if (behind.Count == 0) return;
        string folder = Path.Combine(Setup.WorkDirectory, $"sync-e{ring.Epoch}");
        LogCatchingUp(logger, JobId, members[source].Silo, string.Join(", ", behind.Select(m => m.Silo)));
        try
        {
            await Shard(members[source].Leader).SaveState(folder, modelOnly: false);
            await Task.WhenAll(behind.Select(m => Shard(m.Leader).LoadState(folder, positions[source]).AsTask()));
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on the current ring; when a member fails, aborts the others, re-forms the
    /// ring (shards re-activated on live silos, positions reconciled) and tries again.
    /// </summary>
    private async Task<T> OnRing<T>(RingOperation what, Func<Ring, string, Task<T>> operation)
    {
        long number = ++_operation;
        for (int attempt = 1; ; attempt++)
        {
            string operationId = FrameKeys.Operation(what, number, attempt);
            Ring? ring = _ring;
            try
            {
                ring ??= await Reform();
                var result = await operation(ring, operationId);
                Progressed(operationId);
                return result;
            }
            catch (Exception e) when (attempt < Attempts && Retriable(e))
            {
                _recovery ??= new RecoveryTimeline($"{operationId} failed: {e.Message}", _lastProgress, DateTimeOffset.UtcNow);
                LogRetry(logger, JobId, operationId, attempt, e.Message);
                if (ring is not null) await AbortAll(ring, operationId);
                _ring = null;
                await Task.Delay(Backoff(attempt));
            }
        }
    }

    private async Task<Ring> Reform()
    {
        // Every shard is prepared again: the dead silo's shards come back on live ones, the others stay where they are.
        await Task.WhenAll(Enumerable.Range(0, Setup.ShardCount).Select(i => PrepareShard(i)));
        var ring = await FormRing();
        _recovery?.RingFormed(DateTimeOffset.UtcNow);
        LogRingFormed(logger, JobId, ring.Epoch, ring.Members.Length, string.Join(", ", ring.Members.Select(m => m.Silo)));
        return ring;
    }

    /// <summary>An operation completed: the job moved. A recovery in course ends here; its timeline goes to the job log, the log and the metrics.</summary>
    private void Progressed(string operationId)
    {
        _lastProgress = DateTimeOffset.UtcNow;
        if (_recovery is not { } recovery) return;
        _recovery = null;
        string line = recovery.Describe(_lastProgress, operationId);
        LogRecovered(logger, JobId, line);
        metrics.Recovered(JobId, recovery.Stages(_lastProgress));
        try
        {
            new Jobs.JobLog(Path.GetDirectoryName(Setup.WorkDirectory)!).Write(line);
        }
        catch (IOException)
        {
            // the silo's log has the line; a job log that cannot be written must not fail the step
        }
    }

    private async Task AbortAll(Ring ring, string operationId)
    {
        try
        {
            await Task.WhenAll(ring.Members.Select(m => Shard(m.Leader).Abort(operationId).AsTask())).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
            // best effort: a dead member has nothing to abort
        }
    }

    /// <summary>
    /// Waits for calls to the ring's members. A member whose silo dies mid-operation may leave the call to it
    /// unanswered for long, and its neighbours waiting for its bytes: once membership declares it dead, the attempt
    /// ends (and the others are aborted) instead of waiting for the collective's timeout.
    /// </summary>
    private async Task<T> WhileAlive<T>(Ring ring, string op, Task<T> calls)
    {
        while (await Task.WhenAny(calls, Task.Delay(TimeSpan.FromSeconds(2))) != calls)
            if (ring.Members.FirstOrDefault(m => Dead(m.Silo)) is { } dead)
                throw new SiloUnavailableException($"ring member {dead.Silo} was declared dead during {op}");
        return await calls;
    }

    private bool Dead(string silo) =>
        membership.CurrentSnapshot.Members.Values.Any(m => m.SiloAddress.ToString() == silo && m.Status == SiloStatus.Dead);

    /// <summary>A failure a re-formed ring can cure (a member died), not one that would come back every attempt (bad input, a NaN loss, diverged replicas).</summary>
    private bool Retriable(Exception e) =>
        e is not ArgumentException and not ReplicaDivergedException and not Lwf.Core.LwfInputException and not Lwf.Core.LwfTrainingException
        && !lifetime.ApplicationStopping.IsCancellationRequested;

    private static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(Math.Min(3000, 200 * attempt));

    public async ValueTask<SampleInfo[]> SelfGenerate()
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, Setup.ShardCount).Select(i => WithRetry(i, () => Shard(i).SelfGenerate().AsTask())));
        Progressed(RingOperation.SelfGeneration.Name());
        return parts.SelectMany(p => p).OrderBy(s => s.Index).ToArray();
    }

    public async ValueTask<ShardScores> Score()
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, Setup.ShardCount).Select(i => WithRetry(i, () => Shard(i).Score().AsTask())));
        Progressed(RingOperation.Scoring.Name());
        var all = parts.SelectMany(p => p.SampleIndices.Zip(p.Scores)).OrderBy(x => x.First).ToArray();
        return new ShardScores(all.Select(x => x.First).ToArray(), all.Select(x => x.Second).ToArray());
    }

    public async ValueTask<FisherSummary> Fisher(int[] recordIndices)
    {
        var totals = await OnRing(RingOperation.Fisher, (ring, op) => ReduceOnAll(ring, op, WorkKind.Fisher, recordIndices, []));
        return new FisherSummary(totals.FisherMean, totals.FisherMax);
    }

    public ValueTask<StepOutcome> LearningStep(int[] recordIndices, int[] sampleIndices, bool checkReplicas) => new(Step(recordIndices, sampleIndices, checkReplicas));

    /// <summary>
    /// One optimiser step on every replica: reduce everywhere, then apply everywhere. A failure while reducing
    /// redoes the step (nothing was applied); once applying has begun the step stands, and a member that failed to
    /// apply it is behind at the next ring formation and takes a peer's state.
    /// </summary>
    private async Task<StepOutcome> Step(int[] indices, int[] sampleIndices, bool checkReplicas)
    {
        var outcome = await OnRing(RingOperation.Learn, async (ring, op) =>
        {
            await ReduceOnAll(ring, op, WorkKind.LearningGradient, indices, sampleIndices);
            var applied = await Task.WhenAll(ring.Members.Select(async (m, rank) =>
            {
                try
                {
                    // A member that dies while applying counts as failed: the step stands on the others.
                    var call = Shard(m.Leader).Apply(op).AsTask();
                    while (await Task.WhenAny(call, Task.Delay(TimeSpan.FromSeconds(2))) != call)
                        if (Dead(m.Silo)) throw new SiloUnavailableException($"{m.Silo} was declared dead while applying {op}");
                    return (Rank: rank, Outcome: (StepOutcome?)await call, Error: (Exception?)null);
                }
                catch (Exception e) { return (Rank: rank, Outcome: (StepOutcome?)null, Error: e); }
            }));
            var done = applied.Where(a => a.Outcome is not null).ToList();
            if (done.Count == 0) throw applied[0].Error!;
            if (done.Count < applied.Length)
            {
                foreach (var failed in applied.Where(a => a.Error is not null)) LogApplyFailed(logger, JobId, op, ring.Members[failed.Rank].Silo, failed.Error!.Message);
                _ring = null;
            }
            return done[0].Outcome!;
        });
        if (checkReplicas) await OnRing(RingOperation.Check, async (ring, _) => { await CheckReplicas(ring, outcome.Step); return 0; });
        return outcome;
    }

    /// <summary>The replicas' weights must be equal: a hash from each, compared; a difference fails the job loudly.</summary>
    private async Task CheckReplicas(Ring ring, int step)
    {
        var hashes = await WhileAlive(ring, $"check{step}", Task.WhenAll(ring.Members.Select(m => Shard(m.Leader).WeightsHash().AsTask())));
        if (hashes.Distinct().Count() > 1)
            throw new ReplicaDivergedException($"after learning step {step} the replicas' weights differ: " +
                string.Join(", ", ring.Members.Select((m, rank) => $"rank {rank} on {m.Silo} has {hashes[rank]}")));
    }

    /// <summary>Every member adds up its silo's shards and all-reduces with its neighbours; their totals must agree.</summary>
    private async Task<ReducedTotals> ReduceOnAll(Ring ring, string op, WorkKind kind, int[] indices, int[] sampleIndices)
    {
        var reduced = await WhileAlive(ring, op, Task.WhenAll(ring.Members.Select((m, rank) =>
            Shard(m.Leader).Reduce(new SiloWork(op, kind, indices, m.Shards, ring.Layout(rank), sampleIndices,
                [.. ring.Members.Select(x => x.Silo).Append(localSilo.SiloAddress.ToString()).Distinct()])).AsTask())));
        if (reduced.Distinct().Count() > 1)
            throw new ReplicaDivergedException($"operation {op}: the ring's members reduced different totals ({string.Join("; ", reduced)})");
        return reduced[0];
    }

    public async ValueTask<EvalOutcome[]> Evaluate()
    {
        var parts = await OnRing(RingOperation.Evaluate, (ring, op) =>
            WhileAlive(ring, op, Task.WhenAll(ring.Members.Select((m, rank) => Shard(m.Leader).Evaluate(rank, ring.Members.Length).AsTask()))));
        return parts.SelectMany(p => p).OrderBy(e => e.Index).ToArray();
    }

    public async ValueTask SaveState(string directory) =>
        await OnRing(RingOperation.Save, async (ring, _) => { await Shard(ring.Members[0].Leader).SaveState(directory, modelOnly: false); return 0; });

    public async ValueTask SaveModel(string directory) =>
        await OnRing(RingOperation.Save, async (ring, _) => { await Shard(ring.Members[0].Leader).SaveState(directory, modelOnly: true); return 0; });

    public async ValueTask Finish()
    {
        if (_setup is null) return;
        try
        {
            await Task.WhenAll(Enumerable.Range(0, _setup.ShardCount).Select(i => Shard(i).Finish().AsTask())).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception)
        {
            // best effort: a shard on a silo that is gone has nothing left to free
        }
        DeactivateOnIdle();
    }

    /// <summary>Calls a shard; if it fails, re-forms the ring (the shard may have moved, its replica may be new) and retries.</summary>
    private async Task<T> WithRetry<T>(int shard, Func<Task<T>> call)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < Attempts && Retriable(e))
            {
                _recovery ??= new RecoveryTimeline($"shard {shard} failed: {e.Message}", _lastProgress, DateTimeOffset.UtcNow);
                LogShardRetry(logger, JobId, shard, attempt, e.Message);
                await Task.Delay(Backoff(attempt));
                try { await Reform(); } catch (Exception) when (attempt < Attempts - 1) { }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: {Timeline}")]
    private static partial void LogRecovered(ILogger logger, string jobId, string timeline);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId}: ring epoch {Epoch} formed with {Members} members ({Silos})")]
    private static partial void LogRingFormed(ILogger logger, string jobId, long epoch, int members, string silos);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: starting afresh; the replicas on {Silos} were moved on by an earlier activation and restart from the base model")]
    private static partial void LogRestarting(ILogger logger, string jobId, string silos);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: replicas on {Others} are not where {Source}'s is; they take its state")]
    private static partial void LogCatchingUp(ILogger logger, string jobId, string source, string others);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: operation {Operation} failed (attempt {Attempt}): {Reason}; re-forming the ring")]
    private static partial void LogRetry(ILogger logger, string jobId, string operation, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: {Operation} was not applied on {Silo} ({Reason}); it catches up at the next ring")]
    private static partial void LogApplyFailed(ILogger logger, string jobId, string operation, string silo, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId}: shard {Shard} failed (attempt {Attempt}): {Reason}; re-forming the ring")]
    private static partial void LogShardRetry(ILogger logger, string jobId, int shard, int attempt, string reason);
}
