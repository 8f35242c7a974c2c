namespace Lwf.Cli;

/// <summary>
/// The pace of progress lines on a pipe or in a file (a CI log, `kubectl logs`): a line at most every
/// <see cref="AtMost"/> (besides those that must be: a new stage or phase, a checkpoint, the end), and at least every
/// <see cref="AtLeast"/>, so that a log shows life without a line per step.
/// </summary>
internal sealed class LinePace
{
    public static readonly TimeSpan AtMost = TimeSpan.FromSeconds(30), AtLeast = TimeSpan.FromSeconds(60);

    private DateTime _last = DateTime.MinValue;

    /// <summary>Whether to print now; when so, the line counts as printed.</summary>
    public bool Due(DateTime now, bool must = false)
    {
        if (!must && now - _last < AtMost) return false;
        _last = now;
        return true;
    }

    /// <summary>No line for <see cref="AtLeast"/>: one is owed (and counts as printed).</summary>
    public bool Overdue(DateTime now)
    {
        if (_last == DateTime.MinValue || now - _last < AtLeast) return false;
        _last = now;
        return true;
    }
}
