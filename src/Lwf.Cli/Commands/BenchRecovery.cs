using System.CommandLine;
using System.Diagnostics;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Core.Jobs;

namespace Lwf.Cli.Commands;

/// <summary>
/// `lwf bench recovery`: how long a job stands still when a silo dies. For each kill, a fresh `lwf cluster up`
/// cluster of --silos processes (file clustering: any silo may die) runs the job (default: the tiny job, float64 sums,
/// 30 steps); at a random learning step the trainer's silo (the first --kills) or another silo (the next --kills) is
/// SIGKILLed, and the seconds from the kill to the job's next completed learning step are printed, with whether the
/// job's final weights equal, byte for byte, those of one uninterrupted `lwf train` of the same job (its baseline,
/// trained first in this run). A figure over --limit seconds fails the bench (exit 1).
/// </summary>
internal static class BenchRecovery
{
    public static Command Build()
    {
        var job = new Option<string>("--job") { DefaultValueFactory = _ => Path.Combine("cluster", "jobs", "tiny-lwf.yaml"), Description = "job file (its sums in float64, so that every layout ends with the same weights)" };
        var kills = new Option<int>("--kills") { DefaultValueFactory = _ => 5, Description = "kills of the trainer's silo, and as many of another silo" };
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 3, Description = "silo processes per cluster" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 30, Description = "learning steps of the job (max_steps is set to this)" };
        var limit = new Option<double>("--limit") { DefaultValueFactory = _ => 60, Description = "seconds from a kill to the next learning step beyond which the bench fails" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1, Description = "seed of the steps at which the kills land" };
        var command = new Command("recovery", "SIGKILL the trainer's silo and other silos mid-job: seconds to the next learning step, and the final weights against one process")
        {
            job, kills, silos, steps, limit, seed,
        };
        command.SetAction(LwfCommandLine.Guard(parse => Run(parse.GetValue(job)!, parse.GetValue(kills), parse.GetValue(silos), parse.GetValue(steps),
            parse.GetValue(limit), parse.GetValue(seed))));
        return command;
    }

    private sealed record Kill(int Number, bool Trainer, int Step, double Seconds, bool BytesEqual, double Difference);

    private static int Run(string jobFile, int kills, int silos, int steps, double limit, int seed)
    {
        if (kills < 1 || silos < 2 || steps < 8 || limit <= 0)
            throw new LwfInputException("--kills ≥ 1, --silos ≥ 2, --steps ≥ 8 and a positive --limit are needed");
        jobFile = Path.GetFullPath(jobFile);
        var spec = JobSpec.Load(jobFile); // a bad job is refused here, before any cluster starts
        // The job with its step count, beside the original (its paths are relative to it), removed at the end.
        string job = Path.Combine(Path.GetDirectoryName(jobFile)!, $".bench-recovery-{Guid.NewGuid():N}.yaml");
        string work = Path.Combine(Path.GetTempPath(), "lwf-bench-recovery-" + Guid.NewGuid().ToString("N"));
        string previousHome = Environment.GetEnvironmentVariable("LWF_HOME") ?? "";
        try
        {
            string text = File.ReadAllText(jobFile);
            var maxSteps = new System.Text.RegularExpressions.Regex(@"(?m)^(\s+max_steps:\s*)\d+");
            if (!maxSteps.IsMatch(text)) throw new LwfInputException($"{jobFile}: no train.max_steps to set to --steps {steps}");
            File.WriteAllText(job, maxSteps.Replace(text, "${1}" + steps, 1));
            Directory.CreateDirectory(work);
            Console.WriteLine($"job: {spec.Name}, {steps} steps, gradient sums in {spec.Train.GradientPrecision.ToString().ToLowerInvariant()}; {silos} silo processes per cluster (file clustering); " +
                $"{kills} kills of the trainer's silo, {kills} of another, each at a random step");
            var clock = Stopwatch.StartNew();
            string baseline = Path.Combine(work, "baseline");
            // The baseline runs libtorch with the silos' thread count: sums split over threads round by their number,
            // and the comparison is byte for byte (`cluster up` gives each silo its share of the cores).
            string? threads = Environment.GetEnvironmentVariable(ClusterCommands.TorchThreadsVariable)
                ?? (Environment.GetEnvironmentVariable("OMP_NUM_THREADS") is null ? ClusterCommands.SiloThreads(silos, new Dictionary<string, string?>())?.ToString() : null);
            Child(["train", job, "--out", baseline], threads);
            Console.WriteLine($"baseline: one `lwf train` process, {clock.Elapsed.TotalSeconds:F0} s");
            var random = new Random(seed);
            var results = new List<Kill>();
            Console.WriteLine("kill  silo        at step  seconds to the next step  weights vs one process");
            for (int i = 0; i < 2 * kills; i++)
            {
                bool trainer = i < kills;
                int at = random.Next(2, steps - 4);
                var kill = OneKill(i + 1, trainer, at, job, silos, Path.Combine(work, $"kill-{i + 1}"), Path.Combine(baseline, "model"));
                results.Add(kill);
                Console.WriteLine($"{kill.Number,4}  {(trainer ? "trainer's" : "another"),-10}  {kill.Step,7}  {kill.Seconds,24:F1}  " +
                    (kill.BytesEqual ? "byte for byte equal" : $"differ (max relative {kill.Difference:E2})"));
            }
            var seconds = results.Select(k => k.Seconds).ToList();
            Console.WriteLine($"seconds to the next step: median {BenchCommands.Median(seconds):F1}, max {seconds.Max():F1} (limit {limit:F0}); " +
                $"trainer's silo median {BenchCommands.Median(results.Where(k => k.Trainer).Select(k => k.Seconds).ToList()):F1}, " +
                $"another median {BenchCommands.Median(results.Where(k => !k.Trainer).Select(k => k.Seconds).ToList()):F1}; " +
                $"{results.Count(k => k.BytesEqual)} of {results.Count} jobs end byte for byte with one process's weights");
            return seconds.Max() <= limit && results.All(k => k.BytesEqual) ? 0 : 1;
        }
        finally
        {
            Environment.SetEnvironmentVariable("LWF_HOME", previousHome.Length == 0 ? null : previousHome);
            File.Delete(job);
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    private static Kill OneKill(int number, bool killTrainer, int at, string job, int silos, string work, string baselineModel)
    {
        Environment.SetEnvironmentVariable("LWF_HOME", Path.Combine(work, "home"));
        // ^C or SIGTERM mid-kill must not leave the cluster's silo processes behind.
        EventHandler stop = (_, _) => ClusterCommands.StopSilos();
        AppDomain.CurrentDomain.ProcessExit += stop;
        try
        {
            // The data root: the smallest folder that holds the job and every file it names.
            string checkpoints = Path.Combine(work, "checkpoints");
            var state = ClusterCommands.StartSilos(silos, "cpu", checkpoints, JobUpload.SmallestFolderHolding(job));
            string id = $"recovery-{number}";
            Child(["submit", "--on-cluster", job, "--id", id]);
            return Task.Run(async () =>
            {
                await using var connection = await ClusterConnection.ConnectAsync(null);
                var trainer = connection.Client.GetGrain<ITrainerGrain>(id);
                Task<JobStatus> Status() => ClusterPatience.CallAsync(() => trainer.GetStatus(), $"{id}: the trainer is unreachable");
                JobStatus status;
                while ((status = await Status()).Phase != JobPhase.Training || status.Step < at)
                {
                    if (status.Phase.IsFinal()) throw new LwfTrainingException($"{id} ended {status.Phase} before step {at}: {status.Message}");
                    await Task.Delay(50);
                }
                string trainerSilo = SiloNames.Short(status.TrainerSilo ?? throw new LwfTrainingException($"{id}: its status names no trainer silo"));
                var victim = state.Silos.FirstOrDefault(s => trainerSilo.EndsWith($":{s.SiloPort}", StringComparison.Ordinal) == killTrainer)
                    ?? throw new LwfTrainingException($"{id}: no silo to kill");
                // The next completed learning step, as the job's own log on the checkpoint volume records it. Not through
                // status calls: one in flight to the dead trainer, or through the dead silo's gateway, waits out the console's
                // 15 s attempt limit whatever the cluster does meanwhile (every such kill read 16.0 s that way).
                string jobLog = JobFolders.Of(checkpoints, id).Log;
                int logged = LoggedStep(jobLog);
                if (logged == 0) throw new LwfTrainingException($"{id}: {jobLog} records no learning step at step {status.Step}");
                int step = Math.Max(status.Step, logged);
                var clock = Stopwatch.StartNew();
                Process.GetProcessById(victim.Pid).Kill();
                while (LoggedStep(jobLog) <= step && clock.Elapsed < TimeSpan.FromMinutes(10))
                    await Task.Delay(20);
                double seconds = clock.Elapsed.TotalSeconds;
                while (!(status = await Status()).Phase.IsFinal())
                    await Task.Delay(200);
                if (status.Phase != JobPhase.Done) throw new LwfTrainingException($"{id} ended {status.Phase}: {status.Message}");
                string results = Path.Combine(work, "results");
                await JobClient.DownloadResultsAsync(connection.Client, id, results);
                string model = Path.Combine(results, "model");
                bool equal = File.ReadAllBytes(Path.Combine(model, "model.safetensors")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(baselineModel, "model.safetensors")));
                return new Kill(number, killTrainer, step, seconds, equal, equal ? 0 : Lwf.Core.Checkpoints.ModelDifference.MaxRelative(baselineModel, model));
            }).GetAwaiter().GetResult();
        }
        finally
        {
            ClusterCommands.StopSilos();
            AppDomain.CurrentDomain.ProcessExit -= stop;
        }
    }

    /// <summary>The newest learning step the job's log records ("step N/M: loss …"), 0 before the first.</summary>
    private static int LoggedStep(string jobLog)
    {
        string text;
        try
        {
            using var stream = new FileStream(jobLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            text = new StreamReader(stream).ReadToEnd();
        }
        catch (FileNotFoundException) { return 0; }
        catch (DirectoryNotFoundException) { return 0; }
        return System.Text.RegularExpressions.Regex.Matches(text, @" step (\d+)/\d+: loss").Select(m => int.Parse(m.Groups[1].Value)).DefaultIfEmpty(0).Max();
    }

    /// <summary>lwf with these arguments in a child process; its output is shown only when it fails.</summary>
    private static void Child(string[] args, string? torchThreads = null)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (torchThreads is not null) start.Environment["OMP_NUM_THREADS"] = torchThreads;
        start.ArgumentList.Add(typeof(BenchRecovery).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new LwfTrainingException($"lwf {string.Join(' ', args)} failed (exit {process.ExitCode}): {stderr.Result}{stdout.Result}");
    }
}
