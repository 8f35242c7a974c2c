namespace Lwf.Abstractions;

/// <summary>The cluster's list of jobs (key 0), for `lwf status` without an id.</summary>
[ClientApi]
public interface IJobDirectoryGrain : IGrainWithIntegerKey
{
    ValueTask<string[]> List();

    /// <summary>Every job's folder, oldest first, with the disk it takes (`lwf jobs`).</summary>
    ValueTask<JobFolder[]> Folders();
}
