using Lwf.Core.Jobs;

namespace Lwf.Cli;

/// <summary>
/// Progress bars on stderr: redrawn in place on a terminal; on a pipe or file, one line per stage and
/// quarter, so logs stay readable.
/// </summary>
internal sealed class ConsoleProgress : IProgress<ProgressUpdate>
{
    private const int Width = 30;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private string? _stage;
    private int _lastQuarter = -1;

    public void Report(ProgressUpdate value)
    {
        if (value.Stage != _stage)
        {
            if (_stage is not null && _interactive) Console.Error.WriteLine();
            _stage = value.Stage;
            _lastQuarter = -1;
        }
        double fraction = value.Total <= 0 ? 1 : Math.Clamp((double)value.Done / value.Total, 0, 1);
        int filled = (int)Math.Round(fraction * Width);
        string line = $"{value.Stage,-34} [{new string('#', filled)}{new string('-', Width - filled)}] {value.Done}/{value.Total}" +
            (value.Detail is null ? "" : "  " + value.Detail);
        if (_interactive)
        {
            Console.Error.Write("\r" + line.PadRight(100));
            return;
        }
        int quarter = (int)(fraction * 4);
        if (quarter == _lastQuarter) return;
        _lastQuarter = quarter;
        Console.Error.WriteLine(line);
    }

    /// <summary>Ends the current bar's line.</summary>
    public void Done()
    {
        if (_stage is not null && _interactive) Console.Error.WriteLine();
        _stage = null;
    }
}
