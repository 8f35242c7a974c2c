using System.CommandLine;
using Lwf.Core;
using Lwf.Core.Jobs;
using Lwf.Core.Reports;

namespace Lwf.Cli.Commands;

/// <summary>`lwf train JOB.yaml --out DIR`: the whole LWF pipeline in this process.</summary>
internal static class TrainCommand
{
    public static Command Build()
    {
        var job = new Argument<string>("job") { Description = "job file (YAML; JSON accepted)" };
        var output = new Option<string>("--out") { Description = "output folder: model/, report.json, report.md, plots", Required = true };
        var resume = new Option<bool>("--resume") { Description = "go on from the newest whole checkpoint in OUT" };
        var overwrite = OutputFolder.OverwriteOption();
        var command = new Command("train", "Run a Learning-With-Forgetting job in one process") { job, output, resume, overwrite };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var spec = JobSpec.Load(parse.GetValue(job)!);
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            if (parse.GetValue(resume) && parse.GetValue(overwrite)) throw new LwfInputException($"--resume goes on in OUT and {OutputFolder.OverwriteFlag} starts afresh over it: give one of them");
            // Every input as the run will read it, then OUT, all before the run touches OUT.
            JobInputs.Check(spec);
            if (!parse.GetValue(resume)) OutputFolder.Check(outDir, parse.GetValue(overwrite), canResume: true);
            Directory.CreateDirectory(outDir);
            var progress = new ConsoleProgress();
            using var interrupts = new Interrupts($"stopped at once (second ^C); {outDir} keeps its last whole checkpoint: go on with {ResumeCommand(parse.GetValue(job)!, outDir)}");
            interrupts.First.Register(() => Console.Error.WriteLine("\n" + Interrupts.StoppingAtStep));
            var runner = new LwfJobRunner(spec, progress)
            {
                Resume = parse.GetValue(resume), RequireCheckpoint = true, StopRequest = interrupts.First,
            };
            LwfReport report;
            try
            {
                report = runner.Run(outDir);
            }
            catch (LwfStoppedException stopped)
            {
                progress.Done();
                Console.Error.WriteLine(stopped.Checkpoint is { } checkpoint
                    ? $"{stopped.Message}: {Path.GetFileName(checkpoint)} is in {outDir}. Go on with:\n  {ResumeCommand(parse.GetValue(job)!, outDir)}"
                    : $"{stopped.Message}, with no checkpoint to go on from; run it again with {OutputFolder.OverwriteFlag} to start afresh");
                return Interrupts.ExitCode;
            }
            progress.Done();
            Console.WriteLine(ReportWriter.Table(report));
            Console.WriteLine($"wrote {outDir}: model/, checkpoint-N/, trainer_state.json, report.json, report.md, {ReportWriter.LossPlot}{(report.Forgetting is null ? "" : ", " + ReportWriter.ConfidencePlot)}");
            return 0;
        }));
        return command;
    }

    /// <summary>The command that goes on from OUT's newest checkpoint, paths quoted where they need it.</summary>
    private static string ResumeCommand(string job, string outDir) => $"lwf train {Quote(job)} --out {Quote(outDir)} --resume";

    private static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$') ? "'" + s.Replace("'", "'\\''") + "'" : s;
}
