using Lwf.Tests;

namespace Lwf.Core.Tests;

/// <summary>Where the repository, its fixtures and the built `lwf` are (tests/Shared/TestSupport.cs), plus the HF fixtures.</summary>
public static class TestPaths
{
    public static string RepoRoot => TestSupport.RepoRoot;

    /// <summary>Hugging Face reference fixtures (a copy of shared/fixtures/hf; see its README).</summary>
    public static string Fixture(string model) => Path.Combine(RepoRoot, "tests", "fixtures", "hf", model);

    public static string NewTempDir() => TestSupport.NewTempDir();

    /// <summary>Runs the built `lwf` (same configuration as the tests) as a separate process.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunLwf(params string[] args) =>
        TestSupport.Run(TestSupport.Lwf(args), TimeSpan.FromMinutes(5));

    private static readonly object ConsoleGate = new();

    /// <summary>
    /// Runs the console's command line in this process with stdout and stderr captured: what `lwf` prints and its
    /// exit code, without a process start (1.3 s of CPU each) per case. Only for tests in <see cref="ConsoleCollection"/>,
    /// which run alone, since the console is the process's.
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr) RunLwfHere(params string[] args)
    {
        lock (ConsoleGate)
        {
            TextWriter stdout = Console.Out, stderr = Console.Error;
            var (outWriter, errWriter) = (new StringWriter(), new StringWriter());
            Console.SetOut(outWriter);
            Console.SetError(errWriter);
            try
            {
                int code = Lwf.Cli.LwfCommandLine.Run(args);
                return (code, outWriter.ToString(), errWriter.ToString());
            }
            catch (Exception e)
            {
                // What would have been the process's unhandled exception: its stack trace, as a user would see it.
                return (134, outWriter.ToString(), errWriter + "Unhandled exception. " + e);
            }
            finally
            {
                Console.SetOut(stdout);
                Console.SetError(stderr);
            }
        }
    }
}

/// <summary>Tests that take over the process's console (<see cref="TestPaths.RunLwfHere"/>): run alone, after the others.</summary>
[CollectionDefinition(nameof(ConsoleCollection), DisableParallelization = true)]
public sealed class ConsoleCollection;
