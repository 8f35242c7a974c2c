using Lwf.Abstractions;

namespace Lwf.Grains;

/// <summary>Every job id submitted to the cluster, in submit order, kept in grain storage.</summary>
public sealed class JobDirectoryGrain([PersistentState("jobs")] IPersistentState<JobDirectoryGrain.JobList> state) : Grain, IJobDirectoryGrain
{
    [GenerateSerializer]
    public sealed class JobList
    {
        [Id(0)] public List<string> Ids { get; set; } = [];
    }

    public async ValueTask Register(string jobId)
    {
        if (state.State.Ids.Contains(jobId)) return;
        state.State.Ids.Add(jobId);
        await state.WriteStateAsync();
    }

    public ValueTask<string[]> List() => new(state.State.Ids.ToArray());
}
