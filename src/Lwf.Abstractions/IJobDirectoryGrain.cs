namespace Lwf.Abstractions;

/// <summary>The cluster's list of jobs (key 0), for `lwf status` without an id.</summary>
public interface IJobDirectoryGrain : IGrainWithIntegerKey
{
    ValueTask<string[]> List();
}
