using Lwf.Cli;
using Lwf.Cli.Commands;
using Lwf.Core.Reports;

namespace Lwf.Core.Tests.Cli;

public sealed class RunLedgerTests
{
    private static string MakeRun(string work, string run, string record)
    {
        string dir = Path.Combine(work, run);
        Directory.CreateDirectory(Path.Combine(dir, "model"));
        File.WriteAllText(Path.Combine(dir, ExperimentCommand.RunRecord), record);
        File.WriteAllText(Path.Combine(dir, ExperimentCommand.ValidationRecord), """{"learn":0.35,"forget":0.5,"held-out":1234.5}""");
        File.WriteAllText(Path.Combine(dir, ReportWriter.ReportFile), """{"job":"x","evaluations":[{"step":120,"results":[{"set":"learn","value":0.4375}]}],"learningLoss":[1.5e-3,2]}""");
        File.WriteAllText(Path.Combine(dir, "model", "model.safetensors"), "weights");
        return dir;
    }

    [Fact]
    public void A_run_in_the_ledger_comes_back_on_another_machine_with_its_files_and_without_its_model()
    {
        string here = TestPaths.NewTempDir(), there = TestPaths.NewTempDir(), ledgerFile = Path.Combine(TestPaths.NewTempDir(), "runs.jsonl");
        var (ledger, none) = RunLedger.Open(ledgerFile, here);
        Assert.Equal(0, none);
        string a = MakeRun(here, "p/seed-1/lr0.001/vanilla", "abc 31.5\n"), b = MakeRun(here, "p/seed-1/lr0.001-a0.1/lwf-fisher", "def 40\n");
        ledger.Add(here, a);
        ledger.Add(here, b);
        ledger.Add(here, a); // known as it is: no second line
        Assert.Equal(2, File.ReadAllLines(ledgerFile).Length);

        var (_, restored) = RunLedger.Open(ledgerFile, there);
        Assert.Equal(2, restored);
        foreach (string run in new[] { "p/seed-1/lr0.001/vanilla", "p/seed-1/lr0.001-a0.1/lwf-fisher" })
        {
            string back = Path.Combine(there, run);
            Assert.Equal(File.ReadAllText(Path.Combine(here, run, ExperimentCommand.RunRecord)), File.ReadAllText(Path.Combine(back, ExperimentCommand.RunRecord)));
            Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(
                System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(here, run, ReportWriter.ReportFile))),
                System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(back, ReportWriter.ReportFile)))));
            Assert.Contains("1234.5", File.ReadAllText(Path.Combine(back, ExperimentCommand.ValidationRecord)));
            Assert.False(Directory.Exists(Path.Combine(back, "model")));
        }
        Assert.Equal(0, RunLedger.Open(ledgerFile, there).Restored); // already there: nothing written

        // A run redone (another job file) gets a later line, which wins.
        File.WriteAllText(Path.Combine(a, ExperimentCommand.RunRecord), "xyz 29\n");
        ledger.Add(here, a);
        string third = TestPaths.NewTempDir();
        RunLedger.Open(ledgerFile, third);
        Assert.Equal("xyz 29\n", File.ReadAllText(Path.Combine(third, "p/seed-1/lr0.001/vanilla", ExperimentCommand.RunRecord)));
    }

    [Theory]
    [InlineData("{\"run\": \"p/s/v\", \"experiment-run.txt\": \"a 1\"", ":2: not a ledger line")]
    [InlineData("{\"run\": \"../outside\", \"experiment-run.txt\": \"a 1\", \"validation.json\": {}, \"report.json\": {}}", ":2: run '../outside' is not a folder inside --work")]
    [InlineData("{\"run\": \"p/s/v\", \"experiment-run.txt\": \"a 1\"}", ":2: no 'validation.json'")]
    public void A_bad_ledger_line_is_named_by_file_and_line_and_nothing_is_written(string badLine, string message)
    {
        string work = TestPaths.NewTempDir(), ledgerFile = Path.Combine(TestPaths.NewTempDir(), "runs.jsonl");
        File.WriteAllText(ledgerFile, "{\"run\": \"p/s/ok\", \"experiment-run.txt\": \"a 1\", \"validation.json\": {}, \"report.json\": {}}\n" + badLine + "\n");
        var error = Assert.Throws<LwfInputException>(() => RunLedger.Open(ledgerFile, work));
        Assert.Contains(ledgerFile + message, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(work));
    }
}
