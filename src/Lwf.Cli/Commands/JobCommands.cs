using System.CommandLine;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Jobs;

namespace Lwf.Cli.Commands;

/// <summary>`lwf submit|watch|logs|status|cancel|resume|results`: jobs on a running cluster.</summary>
internal static class JobCommands
{
    public static IEnumerable<Command> Build() => [Submit(), Watch(), Logs(), Status(), Cancel(), Resume(), Results(), Jobs()];

    private static Option<string?> Gateway() => new("--gateway") { Description = "a silo gateway HOST:PORT[,HOST:PORT] (default: the cluster `lwf cluster up` started)" };

    private static Command Submit()
    {
        var job = new Argument<string>("job") { Description = "job file (YAML; JSON accepted)" };
        var id = new Option<string?>("--id") { Description = "job id (default: the job's name, the time and 4 random hex digits)" };
        var workingDir = new Option<string?>("--working-dir")
        {
            Description = "the folder uploaded from: the job file and every file it names must lie inside it, named relative to the job file (default: the smallest folder that holds them all)",
        };
        var onCluster = new Option<bool>("--on-cluster") { Description = "upload nothing: the job file and its files are on a path the silos read (their data root)" };
        var wait = new Option<bool>("--wait") { Description = "then follow the job as `lwf watch` does; exit 0 when it succeeds, 1 when it fails or is cancelled" };
        var json = new Option<bool>("--json") { Description = "with --wait: one JSON object per event on stdout" };
        var gateway = Gateway();
        var command = new Command("submit", "Upload a job (its file, model and data) and submit it; prints its id as the last line (with --wait, then follows it)")
        {
            job, id, workingDir, onCluster, wait, json, gateway,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string file = Path.GetFullPath(parse.GetValue(job)!);
            if (parse.GetValue(onCluster) && parse.GetValue(workingDir) is not null)
                throw new LwfInputException("--working-dir names what to upload and --on-cluster uploads nothing: give one of them");
            if (parse.GetValue(json) && !parse.GetValue(wait)) throw new LwfInputException("--json goes with --wait (or use `lwf watch --json`)");
            string jobId = parse.GetValue(id) ?? JobIds.FromName(Path.GetFileNameWithoutExtension(file), DateTime.UtcNow);
            if (!JobIds.IsValid(jobId)) throw new LwfInputException($"--id '{jobId}' is not valid: {JobIds.Rule}");
            // Checked here before the cluster is called: a mistake in the job is told without a round trip.
            var upload = parse.GetValue(onCluster) ? null : JobUpload.Collect(file, parse.GetValue(workingDir));
            return Run(parse.GetValue(gateway), async client =>
            {
                string onTheCluster = file, token = "";
                if (upload is not null)
                {
                    (onTheCluster, token) = await JobUpload.SendAsync(client, jobId, upload);
                    Console.Error.WriteLine($"uploaded {upload.Manifest.Files.Length} file(s), {upload.Bytes:N0} bytes, from {upload.WorkingDirectory}");
                }
                JobStatus status;
                try
                {
                    status = await client.GetGrain<ITrainerGrain>(jobId).Submit(new JobRequest(onTheCluster));
                }
                catch when (upload is not null)
                {
                    // The upload is dropped unless the job was submitted after all (its files are then the job's).
                    try { await client.GetGrain<IJobUploadGrain>(jobId).Discard(token); } catch (Exception) { }
                    throw;
                }
                if (status.Phase == JobPhase.Failed)
                {
                    if (upload is not null) await client.GetGrain<IJobUploadGrain>(jobId).Discard(token);
                    string message = status.Message ?? "refused";
                    throw new LwfInputException($"the job was refused: {(upload is null ? message : JobUpload.Local(message, upload, onTheCluster))}");
                }
                var format = WatchFormats.Choose(parse.GetValue(json));
                if (format == WatchFormat.Json)
                {
                    // Every stdout line JSON (for jq and log shippers): the job id is in the first event.
                    Console.WriteLine(JobClient.Event(status, JobEvent.Submitted).ToJson());
                }
                else
                {
                    Console.WriteLine($"submitted {file}: {JobClient.Lower(status.Phase)}, step {status.Step}/{status.TotalSteps}");
                    Console.WriteLine(jobId);
                }
                if (!parse.GetValue(wait)) return 0;
                return await JobClient.FollowAsync(client, jobId, format);
            });
        }));
        return command;
    }

    private static Command Logs()
    {
        var id = NewestByDefault();
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing until the job ends" };
        var gateway = Gateway();
        var command = new Command("logs", "Print a job's log (one timestamped line per event: phases, steps, forgetting, evaluations, checkpoints, resumes, the end)")
        {
            id, follow, gateway,
        };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string jobId = await ExistingJob(client, parse.GetValue(id));
            var trainer = client.GetGrain<ITrainerGrain>(jobId);
            long offset = 0;
            while (true)
            {
                var chunk = await trainer.GetLog(offset);
                Console.Write(chunk.Text);
                bool more = chunk.Next > offset;
                offset = chunk.Next;
                if (more) continue;
                if (!parse.GetValue(follow)) return 0;
                if ((await trainer.GetStatus()).Phase.IsFinal())
                {
                    var rest = await trainer.GetLog(offset); // the line of the end, written as the job ended
                    Console.Write(rest.Text);
                    return 0;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(500));
            }
        })));
        return command;
    }

    private static Command Watch()
    {
        var id = NewestByDefault();
        var gateway = Gateway();
        var json = new Option<bool>("--json") { Description = "one JSON object per event (phase, step, end) on stdout, with its time" };
        var command = new Command("watch", "Show a job's progress live (piped: one timestamped line per event); exit 0 when it succeeds, 1 when it fails or is cancelled") { id, gateway, json };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            return await JobClient.FollowAsync(client, await ExistingJob(client, parse.GetValue(id)), WatchFormats.Choose(parse.GetValue(json)));
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

    /// <summary>
    /// The id, refused unless the cluster has a job of that id (a trainer grain of any id would answer); with no id,
    /// the newest job (said on stderr), as `docker logs` users would like and `lwf watch` right after `lwf submit` needs.
    /// </summary>
    private static async Task<string> ExistingJob(IGrainFactory client, string? jobId)
    {
        var jobs = await ClusterPatience.CallAsync(() => client.GetGrain<IJobDirectoryGrain>(0).List(), // oldest first
            "the cluster's job directory is unreachable (a silo died?)");
        if (jobId is null)
        {
            if (jobs.Length == 0) throw new LwfInputException("no jobs on this cluster yet (`lwf submit JOB.yaml` submits one)");
            Console.Error.WriteLine($"the newest job: {jobs[^1]}");
            return jobs[^1];
        }
        return jobs.Contains(jobId) ? jobId : throw new LwfInputException($"no job '{jobId}' on this cluster (`lwf status` lists them)");
    }

    private static Argument<string?> NewestByDefault() => new("id") { Description = "job id (default: the newest job)", Arity = ArgumentArity.ZeroOrOne };

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "job id" };
        var gateway = Gateway();
        var command = new Command("cancel", "Stop a job at the next step boundary, writing a checkpoint there") { id, gateway };
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
        var id = NewestByDefault();
        var output = new Option<string>("--out") { Description = "folder to write (the layout of `lwf train`)", Required = true };
        var force = new Option<bool>("--force") { Description = "write into a folder that is not empty (files of the same names are replaced)" };
        var gateway = Gateway();
        var command = new Command("results", "Fetch a finished job's model, report and plots") { id, output, force, gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            string jobId = await ExistingJob(client, parse.GetValue(id));
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

    private static Command Jobs()
    {
        var gateway = Gateway();
        var command = new Command("jobs", "List the cluster's jobs (a tenant's own, every job for an operator): id, owner, state, step, age, disk; `lwf jobs rm ID` deletes one") { gateway };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(gateway), async client =>
        {
            var folders = await client.GetGrain<IJobDirectoryGrain>(0).Folders();
            if (folders.Length == 0)
            {
                Console.WriteLine("no jobs");
                return 0;
            }
            var rows = new List<string[]> { new[] { "ID", "OWNER", "STATE", "STEP", "AGE", "DISK" } };
            foreach (var folder in folders)
            {
                var s = await client.GetGrain<ITrainerGrain>(folder.JobId).GetStatus();
                rows.Add([folder.JobId, Lwf.Grains.Security.ClientIdentity.Describe(folder.Owner), JobClient.Lower(s.Phase), $"{s.Step}/{s.TotalSteps}", TextTable.Age(DateTimeOffset.UtcNow - folder.Submitted), TextTable.Bytes(folder.Bytes)]);
            }
            TextTable.Write(rows);
            Console.WriteLine($"{folders.Length} job(s), {TextTable.Bytes(folders.Sum(f => f.Bytes))} on the cluster's checkpoint volume");
            return 0;
        })));
        var id = new Argument<string>("id") { Description = "job id" };
        var rmGateway = Gateway();
        var rm = new Command("rm", "Delete a done, failed or cancelled job's files on the cluster: checkpoints, uploaded inputs, results, log") { id, rmGateway };
        rm.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(rmGateway), async client =>
        {
            string jobId = await ExistingJob(client, parse.GetValue(id));
            long freed = await client.GetGrain<ITrainerGrain>(jobId).Remove();
            Console.WriteLine($"removed {jobId}: {TextTable.Bytes(freed)} freed");
            return 0;
        })));
        command.Subcommands.Add(rm);
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
