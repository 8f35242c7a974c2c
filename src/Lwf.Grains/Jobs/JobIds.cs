namespace Lwf.Grains.Jobs;

/// <summary>Job ids name folders on the checkpoint volume: letters, digits, '.', '_' and '-', not starting with '.'.</summary>
public static class JobIds
{
    public const string Rule = "letters, digits, '.', '_' and '-', 128 at most, not starting with '.'";

    public static bool IsValid(string id) =>
        id.Length is > 0 and <= 128 && id[0] != '.' && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>
    /// A valid id made from a job's name, the time and 4 random hex digits (the default of `lwf submit` and `lwf run`):
    /// two people submitting one job file in the same second get two jobs, not one refused.
    /// </summary>
    public static string FromName(string jobName, DateTime utc)
    {
        var name = new string(jobName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '-').ToArray()).Trim('-');
        if (name.Length > 100) name = name[..100];
        return $"{(name.Length == 0 ? "job" : name)}-{utc:yyyyMMdd-HHmmss}-{System.Security.Cryptography.RandomNumberGenerator.GetHexString(4, lowercase: true)}";
    }
}
