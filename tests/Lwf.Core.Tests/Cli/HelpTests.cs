using Lwf.Cli;

namespace Lwf.Core.Tests.Cli;

public sealed class HelpTests
{
    [Fact]
    public void Lwf_help_groups_every_command_once_fits_100_columns_and_ends_with_three_examples()
    {
        var (code, stdout, stderr) = TestPaths.RunLwf("--help");
        Assert.True(code == 0, stderr);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.All(lines, l => Assert.True(l.Length <= LwfCommandLine.HelpWidth, $"{l.Length} columns: {l}"));
        // Each command of the tree starts exactly one line of the help.
        foreach (var command in LwfCommandLine.Build().Subcommands)
            Assert.Single(lines, l => l.StartsWith("  " + command.Name + " ", StringComparison.Ordinal));
        Assert.Contains("For developers:", lines);
        int examples = Array.IndexOf(lines, "Examples:");
        Assert.True(examples > 0 && lines.Length - examples - 1 == 3, stdout);
        // `lwf` alone prints the same.
        Assert.Equal(stdout, TestPaths.RunLwf().Stdout);
    }
}
