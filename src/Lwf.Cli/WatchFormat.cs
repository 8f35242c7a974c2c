namespace Lwf.Cli;

/// <summary>How `lwf watch` and `lwf run` show a job.</summary>
internal enum WatchFormat
{
    /// <summary>A terminal: phases as lines, training as one live line redrawn in place, sized to the terminal.</summary>
    Live,

    /// <summary>A pipe or a file (a CI log, `kubectl exec` without -t): one timestamped line per event, all on stdout.</summary>
    Lines,

    /// <summary>`--json`: the same events, one JSON object per line.</summary>
    Json,
}
