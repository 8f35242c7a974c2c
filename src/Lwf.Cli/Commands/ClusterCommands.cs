using Lwf.Grains.Replicas;
using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Lwf.Core;
using Lwf.Grains.Security;
using Lwf.Silo;

namespace Lwf.Cli.Commands;

/// <summary>`lwf cluster up|status|down`: silo processes on loopback; `lwf silo`: one silo in the foreground.</summary>
internal static partial class ClusterCommands
{
    public static IEnumerable<Command> Build() => [Cluster(), Silo()];

    private static Command Cluster()
    {
        var command = new Command("cluster", "Start, inspect and stop silo processes on this machine");
        command.Subcommands.Add(Up());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Down());
        command.Subcommands.Add(Certs());
        return command;
    }

    /// <summary>
    /// `lwf cluster certs --out DIR`: a new authority (kept in DIR/authority) and its silo and operator certificates, for a
    /// cluster of one's own (Kubernetes, other machines); with `--client NAME`, a certificate per tenant, from the authority
    /// in DIR/authority when there is one (so tenants can be added later), else from the new one.
    /// </summary>
    private static Command Certs()
    {
        var output = new Option<string>("--out") { Required = true, Description = "folder to write silo/, client/ (the operator's), clients/NAME/ and authority/ into" };
        var name = new Option<string>("--name") { DefaultValueFactory = _ => "lwf", Description = "the cluster's name, in the authority's subject" };
        var days = new Option<int>("--days") { DefaultValueFactory = _ => 365, Description = "validity in days" };
        var clients = new Option<string[]>("--client") { Description = "a tenant's name (one DNS label): writes clients/NAME; repeatable", AllowMultipleArgumentsPerToken = false };
        var operators = new Option<string[]>("--operator") { Description = "like --client, for an operator (may reach every job)" };
        var command = new Command("certs", "Make the cluster's certificate authority and certificates for mutual TLS: silo/ for silos, client/ for the operator, clients/NAME per tenant")
        {
            output, name, days, clients, operators,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            string dir = Path.GetFullPath(parse.GetValue(output)!);
            int validity = parse.GetValue(days);
            if (validity is < 1 or > 3650) throw new LwfInputException($"--days must be within 1..3650, got {validity}");
            var wanted = (parse.GetValue(clients) ?? []).Select(c => new ClientIdentity(c, false))
                .Concat((parse.GetValue(operators) ?? []).Select(c => new ClientIdentity(c, true))).ToList();
            foreach (var client in wanted)
                if (!ClientIdentity.IsValidSubject(client.Subject))
                    throw new LwfInputException($"--{(client.IsOperator ? "operator" : "client")} '{client.Subject}': a client's name is one DNS label (lower-case letters, digits, inner hyphens; at most 63)");
            if (wanted.GroupBy(c => c.Subject).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new LwfInputException($"'{twice.Key}' is named twice");
            if (wanted.FirstOrDefault(c => c.Subject == ClientIdentity.Admin) is { } namesake)
                throw new LwfInputException($"--{(namesake.IsOperator ? "operator" : "client")} '{ClientIdentity.Admin}': that is the operator's name ({ClusterCertificates.ClientFolder}/); choose another");
            string authorityDir = Path.Combine(dir, ClusterCertificates.AuthorityFolder);
            string ClientDir(ClientIdentity c) => Path.Combine(dir, ClusterCertificates.ClientsFolder, c.Subject);
            var taken = wanted.Select(ClientDir).Where(Directory.Exists).ToList();
            if (taken.Count > 0) throw new LwfInputException($"{string.Join(", ", taken)} already exist(s): a client's name is given once (nothing was written)");
            string files = $"{{{ClusterCertificates.AuthorityFile},{ClusterCertificates.CertificateFile},{ClusterCertificates.KeyFile}}}";
            var partial = new[] { ClusterCertificates.AuthorityFile, ClusterAuthority.KeyFile }.Select(f => Path.Combine(authorityDir, f)).Where(File.Exists).ToList();
            if (partial.Count == 1)
                throw new LwfInputException($"{authorityDir} holds {partial[0]} alone: an authority is {ClusterCertificates.AuthorityFile} and {ClusterAuthority.KeyFile} together (nothing was written)");
            if (ClusterAuthority.In(authorityDir))
            {
                if (wanted.Count == 0)
                    throw new LwfInputException($"{dir} already holds a cluster's authority ({authorityDir}): name the clients to add with --client NAME, or choose another --out (nothing was written)");
                using var existing = ClusterAuthority.Load(authorityDir);
                foreach (var client in wanted) IssueClient(existing, client);
                return 0;
            }
            string siloDir = Path.Combine(dir, ClusterCertificates.SiloFolder), clientDir = Path.Combine(dir, ClusterCertificates.ClientFolder);
            var present = new[] { siloDir, clientDir }
                .SelectMany(d => ClusterCertificates.Files.Select(f => Path.Combine(d, f)))
                .Where(File.Exists).ToList();
            if (present.Count > 0) throw new LwfInputException($"{dir} already holds {string.Join(", ", present)}: remove them or choose another --out (nothing was written)");
            using var authority = ClusterAuthority.Create(parse.GetValue(name)!, TimeSpan.FromDays(validity));
            // The authority first: whatever is written after it can be issued again from it.
            authority.Save(authorityDir);
            Console.WriteLine($"wrote {authorityDir}/{{{ClusterCertificates.AuthorityFile},{ClusterAuthority.KeyFile}}}: it issues more clients (`lwf cluster certs --out {dir} --client NAME`); keep it off the silos");
            using (var silo = authority.Issue(ClusterRole.Silo))
            using (var admin = authority.Issue(ClusterRole.Client, new ClientIdentity(ClientIdentity.Admin, IsOperator: true)))
            {
                silo.Save(siloDir);
                admin.Save(clientDir);
                Console.WriteLine($"wrote {siloDir}/{files} and {clientDir}/{files} (the operator, '{ClientIdentity.Admin}'; valid until {silo.Member.NotAfter:yyyy-MM-dd}); " +
                    $"silos: Cluster__TlsDirectory={siloDir}; clients: Cluster__TlsDirectory={clientDir}, or a copy of that folder");
            }
            foreach (var client in wanted) IssueClient(authority, client);
            return 0;

            void IssueClient(ClusterAuthority from, ClientIdentity client)
            {
                using var issued = from.Issue(ClusterRole.Client, client, TimeSpan.FromDays(validity));
                issued.Save(ClientDir(client));
                Console.WriteLine($"wrote {ClientDir(client)}/{files}: {(client.IsOperator ? "operator" : "client")} '{client.Subject}' (Cluster__TlsDirectory={ClientDir(client)})");
            }
        }));
        return command;
    }

    /// <summary>Runs one silo in this process until stopped; configured by appsettings.json and the environment.</summary>
    private static Command Silo()
    {
        var command = new Command("silo", "Run one silo in the foreground (configuration from the environment: Cluster__*, Lwf__*)")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            try
            {
                using var host = LwfSiloHost.Build([.. parse.UnmatchedTokens]);
                return TorchThread.Serve(host.RunAsync().ContinueWith(t => { t.GetAwaiter().GetResult(); return 0; }, TaskScheduler.Default));
            }
            catch (Microsoft.Extensions.Options.OptionsValidationException e)
            {
                throw new LwfInputException(string.Join("; ", e.Failures));
            }
            catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
            {
                throw new LwfInputException(e.Message); // names the value, its key and the type it must have
            }
        }));
        return command;
    }

    private static Command Up()
    {
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 3, Description = "silo processes to start" };
        var device = new Option<string>("--device") { DefaultValueFactory = _ => "cpu", Description = "the silos' device: auto, cpu, cuda" };
        var checkpoints = new Option<string?>("--checkpoints") { Description = "checkpoint and results folder (default: $LWF_HOME/checkpoints)" };
        var dataRoot = new Option<string?>("--data-root") { Description = "job files and data must lie under this folder (default: the current folder)" };
        var clustering = new Option<string>("--clustering")
        {
            DefaultValueFactory = _ => ClusteringMode.File,
            Description = "file: the membership table in $LWF_HOME/membership, any silo may die; localhost: the first silo holds it and must stay up; redis: in Redis, any silo may die",
        };
        clustering.AcceptOnlyFromAmong(ClusteringMode.File, ClusteringMode.Localhost, ClusteringMode.Redis);
        var redis = new Option<string?>("--redis") { Description = "Redis connection string for --clustering redis (default: $LWF_REDIS)" };
        var command = new Command("up", "Start silo processes on loopback in the background; return once they have joined")
        {
            silos, device, checkpoints, dataRoot, clustering, redis,
        };
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            int n = parse.GetValue(silos);
            if (n < 1) throw new LwfInputException("--silos must be at least 1");
            if (ClusterState.Load() is { } running && running.Silos.Any(s => IsSilo(s.Pid)))
                throw new LwfInputException($"a cluster is already up (pids {string.Join(", ", running.Silos.Select(s => s.Pid))}); run `lwf cluster down` first");
            string? redisConnection = null;
            if (parse.GetValue(clustering) == ClusteringMode.Redis)
            {
                redisConnection = parse.GetValue(redis) ?? Environment.GetEnvironmentVariable("LWF_REDIS");
                if (string.IsNullOrWhiteSpace(redisConnection)) throw new LwfInputException("--clustering redis needs --redis HOST:PORT (or LWF_REDIS)");
            }
            var state = StartSilos(n, parse.GetValue(device)!, parse.GetValue(checkpoints), parse.GetValue(dataRoot), parse.GetValue(clustering)!, redisConnection);
            foreach (var s in state.Silos)
                Console.WriteLine($"silo pid {s.Pid}: silo port {s.SiloPort}, gateway {s.GatewayPort}, http://127.0.0.1:{s.HttpPort}/metrics, log {s.Log}");
            Console.WriteLine($"{n} silo(s) up ({state.ClusterId}, {state.Clustering} clustering, data root {state.DataRoot}); " +
                "`lwf submit JOB.yaml` to run a job under it, `lwf cluster down` to stop");
            return 0;
        }));
        return command;
    }

    /// <summary>Starts n silo processes, records them in $LWF_HOME/cluster.json, and waits until all are ready.</summary>
    internal static ClusterState StartSilos(int n, string device, string? checkpoints, string? dataRoot, string clustering = ClusteringMode.File, string? redis = null)
    {
        Directory.CreateDirectory(ClusterState.Home);
        EnsureCertificates();
        var ports = LocalCluster.FreePorts(4 * n);
        var state = new ClusterState($"lwf-local-{ports[0]}",
            Path.GetFullPath(checkpoints ?? Path.Combine(ClusterState.Home, "checkpoints")), device, [])
        {
            Clustering = redis is null ? clustering : ClusteringMode.Redis,
            DataRoot = Path.GetFullPath(dataRoot ?? Directory.GetCurrentDirectory()),
            RedisConnectionString = redis,
        };
        // A table left by a cluster of the same id that was never taken down (its silos are gone) would list them as members.
        RemoveMembershipTable(state.ClusterId);
        for (int i = 0; i < n; i++)
        {
            state.Silos.Add(StartSilo(i, ports[4 * i], ports[4 * i + 1], ports[4 * i + 2], ports[4 * i + 3], ports[0], state, n));
            state.Save(); // so `down` can stop what did start, even if a later one fails
        }
        WaitReady(state, TimeSpan.FromSeconds(120));
        return state;
    }

    /// <summary>
    /// The local cluster's TLS files in $LWF_HOME/tls/silo and tls/client: kept from an earlier `up` when both still load
    /// and come from one authority (a client that copied its folder goes on working), made anew otherwise.
    /// </summary>
    private static void EnsureCertificates()
    {
        try
        {
            if (Directory.Exists(ClusterState.SiloTlsDirectory) && Directory.Exists(ClusterState.ClientTlsDirectory))
            {
                using var silo = ClusterCertificates.Load(ClusterState.SiloTlsDirectory, ClusterRole.Silo);
                using var client = ClusterCertificates.Load(ClusterState.ClientTlsDirectory, ClusterRole.Client);
                if (silo.Admits(client.Member, ClusterRole.Client) && silo.Member.NotAfter > DateTime.Now.AddDays(1) && client.Member.NotAfter > DateTime.Now.AddDays(1)) return;
            }
        }
        catch (LwfInputException) { }
        using var authority = ClusterAuthority.Create($"local {Environment.MachineName}");
        using (var madeSilo = authority.Issue(ClusterRole.Silo))
        using (var madeClient = authority.Issue(ClusterRole.Client, new ClientIdentity(ClientIdentity.Admin, IsOperator: true)))
        {
            madeSilo.Save(ClusterState.SiloTlsDirectory);
            madeClient.Save(ClusterState.ClientTlsDirectory);
        }
        // Kept beside them, so that `lwf cluster certs --out $LWF_HOME/tls --client NAME` can admit tenants to this cluster.
        authority.Save(Path.Combine(ClusterState.TlsDirectory, ClusterCertificates.AuthorityFolder));
        // An earlier `lwf cluster up` kept one shared certificate in $LWF_HOME/tls itself: its key opens nothing now.
        foreach (string file in ClusterCertificates.Files) File.Delete(Path.Combine(ClusterState.TlsDirectory, file));
    }

    /// <summary>Stops the recorded silo processes (SIGTERM, then SIGKILL after 15 s) and forgets them.</summary>
    internal static int StopSilos()
    {
        var state = ClusterState.Load();
        if (state is null) return 0;
        foreach (var silo in state.Silos.Where(s => IsSilo(s.Pid))) SendTerm(silo.Pid);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        foreach (var silo in state.Silos)
        {
            while (IsSilo(silo.Pid) && DateTime.UtcNow < deadline) Thread.Sleep(100);
            if (IsSilo(silo.Pid)) Process.GetProcessById(silo.Pid).Kill();
        }
        ClusterState.Delete();
        RemoveMembershipTable(state.ClusterId);
        return state.Silos.Count;
    }

    /// <summary>file clustering: a cluster's membership table and its lock, once no silo of it runs.</summary>
    private static void RemoveMembershipTable(string clusterId)
    {
        if (!Directory.Exists(ClusterState.MembershipDirectory)) return;
        foreach (string file in Directory.GetFiles(ClusterState.MembershipDirectory, clusterId + ".membership*")) File.Delete(file);
    }

    private static SiloProcess StartSilo(int index, int siloPort, int gatewayPort, int httpPort, int dataPort, int primaryPort, ClusterState state, int silos)
    {
        string log = Path.Combine(ClusterState.Home, $"silo-{index}.log");
        string lwf = typeof(ClusterCommands).Assembly.Location;
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // exec: the pid recorded is the silo itself; output goes to its log.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"exec dotnet \"{lwf}\" silo >> \"{log}\" 2>&1");
        var env = start.Environment;
        env["Cluster__Clustering"] = state.Clustering;
        if (state.RedisConnectionString is { } redis)
        {
            env["Cluster__RedisConnectionString"] = redis;
            env["Cluster__AdvertisedAddress"] = "127.0.0.1";
        }
        if (state.Clustering == ClusteringMode.File) env["Cluster__MembershipDirectory"] = ClusterState.MembershipDirectory;
        env["Cluster__ClusterId"] = state.ClusterId;
        env["Cluster__TlsDirectory"] = ClusterState.SiloTlsDirectory;
        env["Cluster__SiloPort"] = siloPort.ToString();
        env["Cluster__GatewayPort"] = gatewayPort.ToString();
        env["Cluster__PrimarySiloPort"] = primaryPort.ToString();
        env["Urls"] = $"http://127.0.0.1:{httpPort}";
        env["Lwf__CheckpointDirectory"] = state.CheckpointDirectory;
        env["Lwf__Device"] = state.Device;
        env["Lwf__DataPlanePort"] = dataPort.ToString();
        env["Lwf__DataPlaneHost"] = "127.0.0.1";
        env["Lwf__DataRoot"] = state.DataRoot;
        if (SiloThreads(silos, env) is { } threads) env[TorchThreadsVariable] = threads.ToString();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a silo process");
        return new SiloProcess(process.Id, siloPort, gatewayPort, httpPort, log);
    }

    /// <summary>The environment variable of <see cref="Lwf.Grains.LwfSiloOptions.TorchThreads"/>.</summary>
    internal static readonly string TorchThreadsVariable = Lwf.Grains.LwfSiloOptions.TorchThreadsKey.Replace(":", "__");

    /// <summary>
    /// The libtorch threads of each of <paramref name="silos"/> silo processes on this machine: its share of the cores,
    /// or null where the environment already says (Lwf__TorchThreads, or OMP_NUM_THREADS, which libtorch reads itself).
    /// </summary>
    internal static int? SiloThreads(int silos, IDictionary<string, string?> environment) =>
        environment.ContainsKey(TorchThreadsVariable) || environment.ContainsKey("OMP_NUM_THREADS") ? null : Math.Max(1, Environment.ProcessorCount / silos);

    private static void WaitReady(ClusterState state, TimeSpan limit)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        foreach (var silo in state.Silos)
        {
            while (true)
            {
                if (!IsSilo(silo.Pid))
                    throw new LwfInputException($"silo pid {silo.Pid} exited while starting; its log {silo.Log} ends:\n{Tail(silo.Log)}");
                try
                {
                    if (http.GetAsync($"http://127.0.0.1:{silo.HttpPort}/health/ready").Result.IsSuccessStatusCode) break;
                }
                catch (AggregateException) { }
                if (clock.Elapsed > limit)
                    throw new LwfInputException($"silo pid {silo.Pid} did not become ready in {limit.TotalSeconds:F0}s; see {silo.Log}");
                Thread.Sleep(250);
            }
        }
    }

    private static Command Status()
    {
        var command = new Command("status", "List the silos, their devices, shards and metrics URLs");
        command.SetAction(LwfCommandLine.Guard(parse => StatusAsync().GetAwaiter().GetResult()));
        return command;
    }

    private static async Task<int> StatusAsync()
    {
        var state = ClusterState.Load() ?? throw new LwfInputException($"no cluster was started here ({ClusterState.FilePath} does not exist)");
        await using var connection = await ClusterConnection.ConnectAsync(null);
        var management = connection.Client.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetHosts(onlyActive: true);
        var stats = await management.GetSimpleGrainStatistics();
        // A table people read: the silo's process, where it listens, whether it is in the cluster, and what it holds.
        var rows = new List<string[]> { new[] { "SILO", "HOST:PORT", "STATE", "DEVICE", "JOBS", "SHARDS", "MEMORY", "METRICS" } };
        foreach (var silo in state.Silos)
        {
            var address = hosts.Keys.FirstOrDefault(a => a.Endpoint.Port == silo.SiloPort);
            int Activations(string grain) => address is null ? 0
                : stats.Where(s => s.SiloAddress.Equals(address) && s.GrainType.Contains(grain, StringComparison.Ordinal)).Sum(s => s.ActivationCount);
            rows.Add([$"pid {silo.Pid}", address is null ? $"127.0.0.1:{silo.SiloPort}" : $"{address.Endpoint.Address}:{address.Endpoint.Port}",
                address is null ? "not active" : "active", state.Device, Activations("TrainerGrain").ToString(), Activations("ShardGrain").ToString(),
                ResidentMemory(silo.Pid), $"http://127.0.0.1:{silo.HttpPort}/metrics"]);
        }
        TextTable.Write(rows);
        Console.WriteLine($"{hosts.Count} active silo(s) in {state.ClusterId}");
        return 0;
    }

    /// <summary>A local process's resident memory (VmRSS), or "–" when it cannot be read.</summary>
    private static string ResidentMemory(int pid) => ProcessStatus.Bytes("VmRSS:", pid) is { } bytes ? TextTable.Bytes(bytes) : "–";

    private static Command Down()
    {
        var command = new Command("down", "Stop the silo processes `lwf cluster up` started");
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            int stopped = StopSilos();
            Console.WriteLine(stopped == 0 ? "no cluster is up" : $"stopped {stopped} silo(s)");
            return 0;
        }));
        return command;
    }

    /// <summary>Whether the pid is still one of our silos (not a reused pid).</summary>
    internal static bool IsSilo(int pid)
    {
        try
        {
            string cmdline = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
            return cmdline.Contains("lwf.dll") && cmdline.Contains(" silo");
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join('\n', File.ReadLines(path).TakeLast(15)) : "(no log)";

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private static void SendTerm(int pid)
    {
        const int SIGTERM = 15;
        if (OperatingSystem.IsLinux() && Kill(pid, SIGTERM) == 0) return;
        Process.GetProcessById(pid).Kill();
    }
}
