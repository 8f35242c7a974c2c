using System.Runtime.InteropServices;

namespace Lwf.Cli;

/// <summary>
/// ^C as Ray's and the Trainer's users know it. The first asks the command to stop where it can (<see cref="First"/>:
/// stop following a job, or finish the step in flight and checkpoint it); the second stops the process at once,
/// exit 130, keeping the last whole checkpoint (checkpoints are written whole or not at all).
/// Our own SIGINT handler, because the Orleans hosts' console lifetime would otherwise swallow ^C.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    /// <summary>The shell's code for a process ended by SIGINT (128 + 2).</summary>
    public const int ExitCode = 130;

    /// <summary>What the first ^C of a run (`lwf train`, `lwf run`, `lwf demo`) says it does.</summary>
    public const string StoppingAtStep = "^C: finishing this learning step and writing a checkpoint (^C again stops at once)";

    private readonly CancellationTokenSource _first = new();
    private readonly PosixSignalRegistration _registration;
    private int _count;

    public Interrupts(string secondMessage)
    {
        _registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            if (Interlocked.Increment(ref _count) == 1)
            {
                _first.Cancel();
                return;
            }
            Console.Error.WriteLine();
            Console.Error.WriteLine(secondMessage);
            Console.Error.Flush();
            // At once: no host's shutdown to wait for (Environment.Exit would run the hosts' exit handlers).
            Exit(ExitCode);
        });
    }

    /// <summary>Cancelled at the first ^C.</summary>
    public CancellationToken First => _first.Token;

    public void Dispose()
    {
        _registration.Dispose();
        _first.Dispose();
    }

    [DllImport("libc", EntryPoint = "_exit")]
    private static extern void Exit(int status);
}
