using System.CommandLine;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Jobs;

namespace Lwf.Cli.Commands;

/// <summary>`lwf submit|watch|status|cancel|resume|results`: jobs on a running cluster.</summary>
internal static class JobCommands
{
    public static IEnumerable<Command> Build() => [Submit(), Watch(), Status(), Cancel(), Resume(), Results()];

    private static Option<string?> Gateway() => new("--gateway") { Description = "a silo gateway HOST:PORT[,HOST:PORT] (default: the cluster `lwf cluster up` started)" };

    private static Command Submit()
    {
        var job = new Argument<string>("job") { Description = "job file (YAML; JSON accepted), on a path the silos can read" };
        var id = new Option<string?>("--id") { Description = "job id (default: the job's name and the time)" };
        var gateway = Gateway();
        var command = new Command("submit", "Submit a job; prints its id as the last line") { job, id, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string file = Path.GetFullPath(parse.GetValue(job)!);
            string jobId = parse.GetValue(id) ?? JobIds.FromName(Path.GetFileNameWithoutExtension(file), DateTime.UtcNow);
            if (!JobIds.IsValid(jobId)) throw new LwfInputException($"--id '{jobId}' is not valid: {JobIds.Rule}");
            var status = await client.GetGrain<ITrainerGrain>(jobId).Submit(new JobRequest(file));
            if (status.Phase == JobPhase.Failed) throw new LwfInputException($"the job was refused: {status.Message}");
            Console.WriteLine($"submitted {file}: {JobClient.Lower(status.Phase)}, step {status.Step}/{status.TotalSteps}");
            Console.WriteLine(jobId);
            return 0;
        })));
        return command;
    }

    private static Command Watch()
    {
        var id = new Argument<string>("id") { Description = "job id" };
        var gateway = Gateway();
        var json = new Option<bool>("--json") { Description = "one JSON object per event (phase, step, end) on stdout, with its time" };
        var command = new Command("watch", "Show a job's progress live (piped: one timestamped line per event); exit 0 when it succeeds, 1 when it fails or is cancelled") { id, gateway, json };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            var format = WatchFormats.Choose(parse.GetValue(json));
            var status = await JobClient.WatchAsync(client, parse.GetValue(id)!, Console.Out, format);
            if (status.ResultTable is { } table && format != WatchFormat.Json) Console.WriteLine(table);
            return status.Phase == JobPhase.Done ? 0 : 1;
        })));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<string?>("id") { Description = "job id (default: every job)", Arity = ArgumentArity.ZeroOrOne };
        var gateway = Gateway();
        var command = new Command("status", "Where a job stands (or every job)") { id, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            var ids = parse.GetValue(id) is { } one ? [one] : await client.GetGrain<IJobDirectoryGrain>(0).List();
            foreach (var jobId in ids)
            {
                var s = await client.GetGrain<ITrainerGrain>(jobId).GetStatus();
                Console.WriteLine($"{jobId}: {JobClient.Lower(s.Phase)} step {s.Step}/{s.TotalSteps}" +
                    (s.LearningLoss is { } l ? $" loss {l:F4}" : "") + (s.CheckpointStep is { } c ? $" checkpoint {c}" : "") +
                    (s.Message is { } m ? $" ({m})" : "") +
                    (s.TrainerSilo is { } t && ids.Length == 1 ? $", trainer on {SiloNames.Short(t)}" : ""));
            }
            if (ids.Length == 0) Console.WriteLine("no jobs");
            return 0;
        })));
        return command;
    }

    /// <summary>The id, refused unless the cluster has a job of that id (a trainer grain of any id would answer).</summary>
    private static async Task<string> ExistingJob(IGrainFactory client, string jobId) =>
        (await client.GetGrain<IJobDirectoryGrain>(0).List()).Contains(jobId) ? jobId
            : throw new LwfInputException($"no job '{jobId}' on this cluster (`lwf status` lists them)");

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "job id" };
        var gateway = Gateway();
        var command = new Command("cancel", "Stop a job within one step (its last checkpoint is kept)") { id, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string jobId = await ExistingJob(client, parse.GetValue(id)!);
            var s = await client.GetGrain<ITrainerGrain>(jobId).Cancel();
            Console.WriteLine($"{s.JobId}: cancelling at step {s.Step}/{s.TotalSteps}");
            return 0;
        })));
        return command;
    }

    private static Command Resume()
    {
        var id = new Argument<string>("id") { Description = "job id of a cancelled job" };
        var gateway = Gateway();
        var command = new Command("resume", "Go on with a cancelled job from where it stopped (its newest checkpoint); `lwf watch` follows it") { id, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string jobId = await ExistingJob(client, parse.GetValue(id)!);
            var s = await client.GetGrain<ITrainerGrain>(jobId).Resume();
            if (s.Phase != JobPhase.Pending) throw new LwfInputException($"{jobId}: {s.Message}");
            Console.WriteLine($"{jobId}: {s.Message}");
            return 0;
        })));
        return command;
    }

    private static Command Results()
    {
        var id = new Argument<string>("id") { Description = "job id" };
        var output = new Option<string>("--out") { Description = "folder to write (the layout of `lwf train`)", Required = true };
        var force = new Option<bool>("--force") { Description = "write into a folder that is not empty (files of the same names are replaced)" };
        var gateway = Gateway();
        var command = new Command("results", "Fetch a finished job's model, report and plots") { id, output, force, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string jobId = parse.GetValue(id)!;
            var status = await client.GetGrain<ITrainerGrain>(jobId).GetStatus();
            if (status.Phase != JobPhase.Done)
                throw new LwfInputException($"{jobId} is {JobClient.Lower(status.Phase)}{(status.Message is { } m ? $" ({m})" : "")}; results come when it is done");
            string outDir = Path.GetFullPath(parse.GetValue(output)!);
            if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any() && !parse.GetValue(force))
                throw new LwfInputException($"--out {outDir} is not empty; give an empty folder, or --force to replace the files of the same names");
            int files = await JobClient.DownloadResultsAsync(client, jobId, outDir);
            Console.WriteLine($"wrote {files} file(s) to {parse.GetValue(output)}");
            return 0;
        })));
        return command;
    }

    private static int Run(string? gateway, Func<IClusterClient, Task<int>> body)
    {
        return RunAsync().GetAwaiter().GetResult();

        async Task<int> RunAsync()
        {
            await using var connection = await ClusterConnection.ConnectAsync(gateway);
            return await body(connection.Client);
        }
    }
}
