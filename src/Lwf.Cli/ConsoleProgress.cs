using System.Diagnostics;
using Lwf.Core.Jobs;

namespace Lwf.Cli;

/// <summary>
/// Progress on stderr: on a terminal, one live line per stage redrawn in place and cut to the terminal's width (so it
/// never wraps into a new line at each redraw), with elapsed time, rate and ETA; on a pipe or file, a line when a
/// stage starts and ends and otherwise at the pace of <see cref="LinePace"/> (at most every 30 s, at least every 60 s).
/// </summary>
internal sealed class ConsoleProgress : IProgress<ProgressUpdate>, IJobObserver, IDisposable
{
    private const int MaxBar = 30;
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private readonly Stopwatch _clock = new();
    private string? _stage;
    private long _firstDone;
    private readonly LinePace _pace = new();
    private readonly object _gate = new();
    private ProgressUpdate? _latest;
    private readonly Timer? _heartbeat;

    public ConsoleProgress()
    {
        // On a pipe, a long step (or stage) still shows life: the latest line again when none came for a minute.
        if (!_interactive) _heartbeat = new Timer(_ => Beat(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    public void Report(ProgressUpdate value)
    {
        lock (_gate)
        {
            bool started = value.Label != _stage;
            if (started)
            {
                if (_stage is not null && _interactive) Console.Error.WriteLine();
                _stage = value.Label;
                _firstDone = value.Done;
                _clock.Restart();
            }
            _latest = value;
            if (_interactive)
            {
                // Erase to the end of the line: a shorter line leaves nothing of the one before.
                Console.Error.Write("\r" + Format(value, _clock.Elapsed, value.Done - _firstDone, TerminalWidth()) + "\u001b[K");
                return;
            }
            bool finished = value.Total > 0 && value.Done >= value.Total;
            if (_pace.Due(DateTime.UtcNow, must: started || finished))
                Console.Error.WriteLine(Format(value, _clock.Elapsed, value.Done - _firstDone, width: int.MaxValue));
        }
    }

    private void Beat()
    {
        lock (_gate)
        {
            if (_stage is not null && _latest is { } latest && _pace.Overdue(DateTime.UtcNow))
                Console.Error.WriteLine(Format(latest, _clock.Elapsed, latest.Done - _firstDone, width: int.MaxValue));
        }
    }

    /// <summary>A job's stage moved on: the same line as any other progress.</summary>
    void IJobObserver.Progressed(ProgressUpdate update) => Report(update);

    /// <summary>A job's line for the user: under the bar, which goes on below it.</summary>
    void IJobObserver.Logged(string line)
    {
        Done();
        Console.Error.WriteLine(line);
    }

    /// <summary>Ends the current bar's line.</summary>
    public void Done()
    {
        lock (_gate)
        {
            if (_stage is not null && _interactive) Console.Error.WriteLine();
            _stage = null;
        }
    }

    public void Dispose() => _heartbeat?.Dispose();

    /// <summary>
    /// The line for <paramref name="value"/>, at most <paramref name="width"/> − 1 characters (a line that fills the last
    /// column makes some terminals wrap): the stage and count first, then time, rate and ETA, then the detail (the loss
    /// leads it); the bar takes what room is left, and the tail is cut with "…" when even that is too long.
    /// </summary>
    internal static string Format(ProgressUpdate value, TimeSpan elapsed, long doneSinceStart, int width)
    {
        int room = width == int.MaxValue ? int.MaxValue : Math.Max(10, width - 1);
        string head = $"{value.Label} {value.Done}/{value.Total}";
        string timing = Clock(elapsed);
        if (doneSinceStart > 0 && elapsed.TotalSeconds > 0)
        {
            double perSecond = doneSinceStart / elapsed.TotalSeconds;
            timing += perSecond >= 1 ? $" {perSecond:F1} it/s" : $" {1 / perSecond:F1} s/it";
            if (value.Total > value.Done) timing += $" ETA {Clock(TimeSpan.FromSeconds((value.Total - value.Done) / perSecond))}";
        }
        string detail = value.Detail is null ? "" : "  " + value.Detail;
        int barRoom = room == int.MaxValue ? MaxBar : room - head.Length - timing.Length - detail.Length - 4;
        string bar = "";
        if (barRoom >= 10)
        {
            int size = Math.Min(MaxBar, barRoom);
            double fraction = value.Total <= 0 ? 1 : Math.Clamp((double)value.Done / value.Total, 0, 1);
            int filled = (int)Math.Round(fraction * size);
            bar = $" [{new string('#', filled)}{new string('-', size - filled)}]";
        }
        string line = $"{head}{bar} {timing}{detail}";
        return line.Length <= room ? line : line[..(room - 1)] + "…";
    }

    private static string Clock(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t:mm\\:ss}" : $"{t:mm\\:ss}";

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth is > 0 and var w ? w : 80;
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException)
        {
            return 80;
        }
    }
}
