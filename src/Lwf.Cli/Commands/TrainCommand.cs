using System.CommandLine;
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
        var resume = new Option<bool>("--resume") { Description = "go on from the newest whole checkpoint in OUT/checkpoints (without it, a run starts afresh and clears them)" };
        var command = new Command("train", "Run a Learning-With-Forgetting job in one process") { job, output, resume };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            var spec = JobSpec.Load(parse.GetValue(job)!);
            // Every input as the run will read it, before the run touches OUT (it clears old checkpoints once it has loaded).
            JobInputs.Check(spec);
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            Directory.CreateDirectory(outDir);
            var progress = new ConsoleProgress();
            var report = new LwfJobRunner(spec, progress) { Resume = parse.GetValue(resume), RequireCheckpoint = true }.Run(outDir);
            progress.Done();
            Console.WriteLine(ReportWriter.Table(report));
            Console.WriteLine($"wrote {outDir}: model/, checkpoint-N/, trainer_state.json, report.json, report.md, {ReportWriter.LossPlot}{(report.Forgetting is null ? "" : ", " + ReportWriter.ConfidencePlot)}");
            return 0;
        }));
        return command;
    }
}
