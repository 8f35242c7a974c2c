using System.Diagnostics;
using Lwf.Tests;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// The chart under helm/lwf-orleans, rendered by the real `helm template` (LWF_HELM, else `helm` on PATH;
/// .ci/run installs it) and read back as Kubernetes objects: what a silo needs to join the cluster and be
/// probed, scraped and scheduled on the right nodes.
/// </summary>
public sealed class HelmChartTests
{
    private static readonly string Chart = Path.Combine(Lwf.RepoRoot, "helm", "lwf-orleans");

    /// <summary>One rendered object: its kind, name and body (YAML mappings and sequences as dictionaries and lists).</summary>
    private sealed record Manifest(string Kind, string Name, Dictionary<object, object> Body);

    private static string? Helm()
    {
        if (Environment.GetEnvironmentVariable("LWF_HELM") is { Length: > 0 } helm) return helm;
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, "helm")).FirstOrDefault(File.Exists);
    }

    private static (int ExitCode, string Stdout, string Stderr) RunHelm(params string[] args)
    {
        string? helm = Helm();
        Skip.If(helm is null, "helm is not installed (LWF_HELM or PATH; .ci/run installs it)");
        var start = new ProcessStartInfo(helm!);
        foreach (string a in args) start.ArgumentList.Add(a);
        return TestSupport.Run(start, TimeSpan.FromMinutes(2));
    }

    private static List<Manifest> Render(params string[] args)
    {
        var (code, stdout, stderr) = RunHelm(["template", "lwf", Chart, "--namespace", "ml", .. args]);
        Assert.True(code == 0, $"helm template exited {code}:\n{stderr}");
        var manifests = new List<Manifest>();
        var parser = new Parser(new StringReader(stdout));
        var deserializer = new DeserializerBuilder().Build();
        parser.Consume<StreamStart>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (deserializer.Deserialize<object>(parser) is Dictionary<object, object> body)
                manifests.Add(new Manifest((string)body["kind"], (string)Map(body, "metadata")["name"], body));
        }
        return manifests;
    }

    /// <summary>NOTES.txt as `helm install` prints it, with these values (a client-side dry run: no cluster needed).</summary>
    private static string Notes(params string[] args)
    {
        var (code, stdout, stderr) = RunHelm(["install", "lwf", Chart, "--dry-run=client", "--namespace", "ml", .. args]);
        Assert.True(code == 0, $"helm install --dry-run exited {code}:\n{stderr}");
        int at = stdout.IndexOf("\nNOTES:\n", StringComparison.Ordinal);
        Assert.True(at >= 0, "helm printed no NOTES");
        return stdout[(at + "\nNOTES:\n".Length)..];
    }

    private static Dictionary<object, object> Map(object node, params string[] path)
    {
        foreach (string key in path)
        {
            var map = Assert.IsType<Dictionary<object, object>>(node);
            Assert.True(map.TryGetValue(key, out node!), $"no '{key}' in {string.Join(", ", map.Keys)}");
        }
        return Assert.IsType<Dictionary<object, object>>(node);
    }

    private static List<Dictionary<object, object>> List(object node, params string[] path)
    {
        foreach (string key in path) node = Assert.IsType<Dictionary<object, object>>(node)[key];
        return Assert.IsType<List<object>>(node).Cast<Dictionary<object, object>>().ToList();
    }

    private static Dictionary<object, object> Named(List<Dictionary<object, object>> items, string name) =>
        Assert.Single(items, i => (string)i["name"] == name);

    private static Manifest One(List<Manifest> manifests, string kind, string name) => Assert.Single(manifests, m => m.Kind == kind && m.Name == name);

    private static Dictionary<object, object> SiloContainer(Manifest deployment) =>
        Named(List(deployment.Body, "spec", "template", "spec", "containers"), "silo");

    private static Dictionary<string, string> Env(Dictionary<object, object> container) =>
        List(container, "env").Where(e => e.ContainsKey("value")).ToDictionary(e => (string)e["name"], e => (string)e["value"]);

    private static int Port(Dictionary<object, object> container, string name) =>
        int.Parse((string)Named(List(container, "ports"), name)["containerPort"].ToString()!);

    [SkippableFact]
    public void Default_values_render_cpu_silos_that_join_through_the_bundled_redis()
    {
        var manifests = Render();
        var silos = One(manifests, "Deployment", "lwf-lwf-orleans-cpu-silo");
        Assert.DoesNotContain(manifests, m => m.Name.Contains("gpu", StringComparison.Ordinal));
        Assert.DoesNotContain(manifests, m => m.Kind is "ServiceMonitor" or "ConfigMap" or "PrometheusRule");
        Assert.Equal("2", Map(silos.Body, "spec")["replicas"].ToString());

        var silo = SiloContainer(silos);
        Assert.Equal(["silo"], Assert.IsType<List<object>>(silo["args"]).Cast<string>());
        var env = Env(silo);
        Assert.Equal("redis", env["Cluster__Clustering"]);
        Assert.Equal("$(POD_IP)", env["Cluster__AdvertisedAddress"]);
        Assert.Equal("cpu", env["Lwf__Device"]);
        Assert.Equal(11111, Port(silo, "silo"));
        Assert.Equal(30000, Port(silo, "gateway"));
        Assert.Equal(8080, Port(silo, "http"));
        Assert.Equal(11112, Port(silo, "dataplane"));
        Assert.Equal(env["Cluster__SiloPort"], Port(silo, "silo").ToString());
        Assert.Equal(env["Cluster__GatewayPort"], Port(silo, "gateway").ToString());
        Assert.Equal(env["Lwf__DataPlanePort"], Port(silo, "dataplane").ToString());
        Assert.Equal($"http://0.0.0.0:{Port(silo, "http")}", env["Urls"]);

        // Redis: the connection string names the bundled Service's host and port, and its password.
        var redisService = One(manifests, "Service", "lwf-lwf-orleans-redis");
        One(manifests, "Deployment", "lwf-lwf-orleans-redis");
        Assert.Equal($"{redisService.Name}:{List(redisService.Body, "spec", "ports")[0]["port"]},password=$(REDIS_PASSWORD)", env["Cluster__RedisConnectionString"]);

        // Probes on the health endpoints, through the named HTTP port.
        Assert.Equal("/health/live", Map(silo, "livenessProbe", "httpGet")["path"]);
        Assert.Equal("/health/ready", Map(silo, "readinessProbe", "httpGet")["path"]);
        Assert.Equal("/health/live", Map(silo, "startupProbe", "httpGet")["path"]);
        foreach (string probe in new[] { "livenessProbe", "readinessProbe", "startupProbe" })
            Assert.Equal("http", Map(silo, probe, "httpGet")["port"]);

        // Non-root, no GPU, and the checkpoint volume where the silo writes checkpoints, on the chart's claim.
        Assert.Equal("true", Map(silos.Body, "spec", "template", "spec", "securityContext")["runAsNonRoot"].ToString()!.ToLowerInvariant());
        Assert.False(Map(silo, "resources").TryGetValue("limits", out var limits) && ((Dictionary<object, object>)limits).ContainsKey("nvidia.com/gpu"));
        string checkpointPath = env["Lwf__CheckpointDirectory"];
        Assert.Equal(checkpointPath, Named(List(silo, "volumeMounts"), "checkpoints")["mountPath"]);
        var claim = One(manifests, "PersistentVolumeClaim", "lwf-lwf-orleans-checkpoints");
        Assert.Equal(claim.Name, Map(Named(List(silos.Body, "spec", "template", "spec", "volumes"), "checkpoints"), "persistentVolumeClaim")["claimName"]);
        Assert.Equal(["ReadWriteMany"], Assert.IsType<List<object>>(Map(claim.Body, "spec")["accessModes"]).Cast<string>());
        // The data volume is shared too: every shard reads the job's files on its own silo.
        var dataClaim = One(manifests, "PersistentVolumeClaim", "lwf-lwf-orleans-data");
        Assert.Equal(dataClaim.Name, Map(Named(List(silos.Body, "spec", "template", "spec", "volumes"), "data"), "persistentVolumeClaim")["claimName"]);
        Assert.Equal(["ReadWriteMany"], Assert.IsType<List<object>>(Map(dataClaim.Body, "spec")["accessModes"]).Cast<string>());
        Assert.Equal(env["Lwf__DataRoot"], Named(List(silo, "volumeMounts"), "data")["mountPath"]);

        // The Service's ports lead to the silo's named ports; its selector and the PDB's select the silo pods.
        var podLabels = Map(silos.Body, "spec", "template", "metadata", "labels");
        var service = One(manifests, "Service", "lwf-lwf-orleans");
        foreach (var port in List(service.Body, "spec", "ports")) Port(silo, (string)port["targetPort"]);
        Assert.All(Map(service.Body, "spec", "selector"), kv => Assert.Equal(kv.Value, podLabels[kv.Key]));
        var pdb = One(manifests, "PodDisruptionBudget", silos.Name);
        Assert.All(Map(pdb.Body, "spec", "selector", "matchLabels"), kv => Assert.Equal(kv.Value, podLabels[kv.Key]));
        // cluster/prometheus/prometheus.yml keeps pods by these labels.
        Assert.Equal("lwf-orleans", podLabels["app.kubernetes.io/name"]);
        Assert.Equal("silo", podLabels["app.kubernetes.io/component"]);
        One(manifests, "ServiceAccount", (string)Map(silos.Body, "spec", "template", "spec")["serviceAccountName"]);

        // `helm test`'s pod: a hook, a client of the same cluster as the silos.
        var testPod = One(manifests, "Pod", "lwf-lwf-orleans-test-cluster-reachable");
        Assert.Equal("test", Map(testPod.Body, "metadata", "annotations")["helm.sh/hook"]);
        var clientEnv = Env(Named(List(testPod.Body, "spec", "containers"), "lwf-status"));
        foreach (string key in new[] { "Cluster__Clustering", "Cluster__RedisConnectionString", "Cluster__ClusterId", "Cluster__ServiceId" })
            Assert.Equal(env[key], clientEnv[key]);
    }

    [SkippableFact]
    public void Gpu_values_render_gpu_silos_with_their_gpu_limit_nodes_and_the_dashboards()
    {
        var manifests = Render("-f", Path.Combine(Chart, "values-gpu.yaml"));
        var cpu = One(manifests, "Deployment", "lwf-lwf-orleans-cpu-silo");
        var gpu = One(manifests, "Deployment", "lwf-lwf-orleans-gpu-silo");
        var gpuSilo = SiloContainer(gpu);
        Assert.Equal("1", Map(gpuSilo, "resources", "limits")["nvidia.com/gpu"].ToString());
        Assert.EndsWith("-cuda", (string)gpuSilo["image"], StringComparison.Ordinal);
        Assert.Equal("cuda", Env(gpuSilo)["Lwf__Device"]);
        Assert.Equal("cpu", Env(SiloContainer(cpu))["Lwf__Device"]);
        var gpuPod = Map(gpu.Body, "spec", "template", "spec");
        Assert.Equal("true", Map(gpuPod, "nodeSelector")["nvidia.com/gpu.present"]);
        Assert.Contains(List(gpuPod, "tolerations"), t => (string)t["key"] == "nvidia.com/gpu" && (string)t["effect"] == "NoSchedule");
        Assert.Equal("nvidia", gpuPod["runtimeClassName"]);
        Assert.False(Map(cpu.Body, "spec", "template", "spec").ContainsKey("nodeSelector"));

        // Both workloads form one cluster: same cluster id, same Redis (the external one, from the chart's Secret).
        Assert.Equal(Env(SiloContainer(cpu))["Cluster__ClusterId"], Env(gpuSilo)["Cluster__ClusterId"]);
        var secret = One(manifests, "Secret", "lwf-lwf-orleans-redis");
        Assert.Equal("redis-master.redis.svc.cluster.local:6379", Map(secret.Body, "stringData")["connectionString"]);
        foreach (var deployment in new[] { cpu, gpu })
        {
            var redisEnv = Named(List(SiloContainer(deployment), "env"), "Cluster__RedisConnectionString");
            Assert.Equal(secret.Name, Map(redisEnv, "valueFrom", "secretKeyRef")["name"]);
            One(manifests, "PodDisruptionBudget", deployment.Name);
        }
        Assert.DoesNotContain(manifests, m => m.Name == "lwf-lwf-orleans-redis" && m.Kind == "Deployment");
        Assert.DoesNotContain(manifests, m => m.Kind == "PersistentVolumeClaim"); // existingClaim

        // The ServiceMonitor scrapes the Service's http port; the dashboards ConfigMaps carry the sidecar label
        // and the very files under cluster/grafana/dashboards.
        var monitor = One(manifests, "ServiceMonitor", "lwf-lwf-orleans");
        Assert.Equal("kube-prometheus-stack", Map(monitor.Body, "metadata", "labels")["release"]);
        Assert.Equal("http", List(monitor.Body, "spec", "endpoints")[0]["port"]);
        Assert.Contains(List(One(manifests, "Service", "lwf-lwf-orleans").Body, "spec", "ports"), p => (string)p["name"] == "http");
        // The PrometheusRule carries the alerts of cluster/prometheus/rules, expression for expression.
        var rule = One(manifests, "PrometheusRule", "lwf-lwf-orleans");
        Assert.Equal("kube-prometheus-stack", Map(rule.Body, "metadata", "labels")["release"]);
        var rendered = List(rule.Body, "spec", "groups").SelectMany(g => List(g, "rules")).ToDictionary(r => (string)r["alert"], r => (string)r["expr"]);
        var shipped = new DeserializerBuilder().Build().Deserialize<Dictionary<string, List<Dictionary<string, object>>>>(
                File.ReadAllText(Path.Combine(Lwf.RepoRoot, "cluster", "prometheus", "rules", "lwf.rules.yml")))["groups"]
            .SelectMany(g => ((List<object>)g["rules"]).Cast<Dictionary<object, object>>()).ToDictionary(r => (string)r["alert"], r => (string)r["expr"]);
        Assert.Equal(shipped.OrderBy(kv => kv.Key), rendered.OrderBy(kv => kv.Key));
        var dashboards = manifests.Where(m => m.Kind == "ConfigMap").ToList();
        var files = Directory.GetFiles(Path.Combine(Lwf.RepoRoot, "cluster", "grafana", "dashboards"), "*.json");
        Assert.Equal(files.Length, dashboards.Count);
        foreach (string file in files)
        {
            var map = Assert.Single(dashboards, d => Map(d.Body, "data").ContainsKey(Path.GetFileName(file)));
            Assert.Equal("1", Map(map.Body, "metadata", "labels")["grafana_dashboard"]);
            Assert.Equal(File.ReadAllText(file).TrimEnd('\n'), Map(map.Body, "data")[Path.GetFileName(file)]);
        }
    }

    [SkippableFact]
    public void Every_silo_gets_a_silos_certificate_and_the_test_pod_a_clients_from_one_authority()
    {
        var manifests = Render("-f", Path.Combine(Chart, "values-gpu.yaml"));
        var siloSecret = One(manifests, "Secret", "lwf-lwf-orleans-tls");
        var clientSecret = One(manifests, "Secret", "lwf-lwf-orleans-client-tls");
        string Unpack(Manifest secret)
        {
            Assert.Equal("kubernetes.io/tls", secret.Body["type"]);
            Assert.Equal("keep", Map(secret.Body, "metadata", "annotations")["helm.sh/resource-policy"]);
            string dir = Lwf.NewTempDir();
            foreach (string file in new[] { "ca.crt", "tls.crt", "tls.key" })
                File.WriteAllBytes(Path.Combine(dir, file), Convert.FromBase64String((string)Map(secret.Body, "data")[file]));
            return dir;
        }
        // What helm's genCA/genSignedCert made is what a silo and a client load: each certificate chains to the one ca.crt
        // and holds its role, so the client's opens the gateway and not the silo port.
        using (var silo = global::Lwf.Grains.Security.ClusterCertificates.Load(Unpack(siloSecret), global::Lwf.Grains.Security.ClusterRole.Silo))
        using (var client = global::Lwf.Grains.Security.ClusterCertificates.Load(Unpack(clientSecret), global::Lwf.Grains.Security.ClusterRole.Client))
        {
            Assert.True(silo.Admits(client.Member, global::Lwf.Grains.Security.ClusterRole.Client));
            Assert.False(silo.Admits(client.Member, global::Lwf.Grains.Security.ClusterRole.Silo));
            Assert.True(client.Admits(silo.Member, global::Lwf.Grains.Security.ClusterRole.Silo));
        }
        var pods = new[]
        {
            (Spec: Map(One(manifests, "Deployment", "lwf-lwf-orleans-cpu-silo").Body, "spec", "template", "spec"), Container: "silo", Secret: siloSecret.Name),
            (Spec: Map(One(manifests, "Deployment", "lwf-lwf-orleans-gpu-silo").Body, "spec", "template", "spec"), Container: "silo", Secret: siloSecret.Name),
            (Spec: Map(One(manifests, "Pod", "lwf-lwf-orleans-test-cluster-reachable").Body, "spec"), Container: "lwf-status", Secret: clientSecret.Name),
        };
        foreach (var (spec, name, secretName) in pods)
        {
            var container = Named(List(spec, "containers"), name);
            Assert.Equal("/etc/lwf/tls", Env(container)["Cluster__TlsDirectory"]);
            Assert.Equal("/etc/lwf/tls", Named(List(container, "volumeMounts"), "tls")["mountPath"]);
            Assert.Equal(secretName, Map(Named(List(spec, "volumes"), "tls"), "secret")["secretName"]);
        }
        // Secrets of one's own (cert-manager's): mounted, none made; one without the other is refused. TLS off: said so to every silo, no Secret.
        var own = Render("--set", "tls.existingSecret=cluster-certs", "--set", "tls.existingClientSecret=client-certs");
        Assert.DoesNotContain(own, m => m.Kind == "Secret" && m.Name.EndsWith("-tls"));
        Assert.Equal("cluster-certs", Map(Named(List(Map(One(own, "Deployment", "lwf-lwf-orleans-cpu-silo").Body, "spec", "template", "spec"), "volumes"), "tls"), "secret")["secretName"]);
        Assert.Equal("client-certs", Map(Named(List(Map(One(own, "Pod", "lwf-lwf-orleans-test-cluster-reachable").Body, "spec"), "volumes"), "tls"), "secret")["secretName"]);
        var off = Render("--set", "tls.enabled=false");
        Assert.DoesNotContain(off, m => m.Kind == "Secret" && m.Name.EndsWith("-tls"));
        Assert.Equal("off", Env(SiloContainer(One(off, "Deployment", "lwf-lwf-orleans-cpu-silo")))["Cluster__Tls"]);
    }

    [SkippableFact]
    public void The_bundled_redis_wants_a_password_from_a_secret_and_network_policies_let_in_only_the_release_and_labelled_clients()
    {
        var manifests = Render();
        // Redis: protected mode and a password, made by the chart (kept across upgrades and uninstalls), that the silos' connection string carries.
        var secret = One(manifests, "Secret", "lwf-lwf-orleans-redis-auth");
        Assert.Equal("keep", Map(secret.Body, "metadata", "annotations")["helm.sh/resource-policy"]);
        string password = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)Map(secret.Body, "data")["password"]));
        Assert.Matches("^[A-Za-z0-9]{32}$", password);
        var redis = Named(List(One(manifests, "Deployment", "lwf-lwf-orleans-redis").Body, "spec", "template", "spec", "containers"), "redis");
        var args = Assert.IsType<List<object>>(redis["args"]).Cast<string>().ToList();
        Assert.Equal("yes", args[args.IndexOf("--protected-mode") + 1]);
        Assert.Equal("$(REDIS_PASSWORD)", args[args.IndexOf("--requirepass") + 1]);
        var redisEnv = PodEnvironment(manifests, redis);
        Assert.Equal(password, redisEnv["REDIS_PASSWORD"]);
        Assert.Equal(password, redisEnv["REDISCLI_AUTH"]); // the readiness probe's redis-cli ping
        var silo = One(manifests, "Deployment", "lwf-lwf-orleans-cpu-silo");
        Assert.Equal($"lwf-lwf-orleans-redis:6379,password={password}", PodEnvironment(manifests, SiloContainer(silo))["Cluster__RedisConnectionString"]);

        // Who may open which port: a peer admits a pod of the release's namespace whose labels hold its podSelector's.
        var siloPolicy = One(manifests, "NetworkPolicy", "lwf-lwf-orleans-silos");
        var redisPolicy = One(manifests, "NetworkPolicy", "lwf-lwf-orleans-redis");
        bool Admits(Manifest policy, int port, Dictionary<object, object> labels) =>
            List(policy.Body, "spec", "ingress").Where(rule => List(rule, "ports").Any(p => p["port"].ToString() == port.ToString()))
                .SelectMany(rule => List(rule, "from"))
                .Any(peer => !peer.ContainsKey("namespaceSelector") && peer.TryGetValue("podSelector", out var selector)
                    && Map(selector, "matchLabels").All(kv => labels.TryGetValue(kv.Key, out var v) && Equals(v, kv.Value)));
        var siloLabels = Map(silo.Body, "spec", "template", "metadata", "labels");
        var redisLabels = Map(One(manifests, "Deployment", "lwf-lwf-orleans-redis").Body, "spec", "template", "metadata", "labels");
        Assert.All(Map(siloPolicy.Body, "spec", "podSelector", "matchLabels"), kv => Assert.Equal(kv.Value, siloLabels[kv.Key]));
        Assert.All(Map(redisPolicy.Body, "spec", "podSelector", "matchLabels"), kv => Assert.Equal(kv.Value, redisLabels[kv.Key]));
        foreach (var policy in new[] { siloPolicy, redisPolicy })
            Assert.Equal(["Ingress"], Assert.IsType<List<object>>(Map(policy.Body, "spec")["policyTypes"]).Cast<string>());
        var helmTest = Map(One(manifests, "Pod", "lwf-lwf-orleans-test-cluster-reachable").Body, "metadata", "labels");
        var client = new Dictionary<object, object> { ["lwf-orleans.io/client"] = "true", ["app"] = "notebook" };
        var stranger = new Dictionary<object, object> { ["app"] = "notebook" };
        foreach (int port in new[] { 11111, 11112 }) // silo-to-silo and the data plane: silos only
        {
            Assert.True(Admits(siloPolicy, port, siloLabels));
            Assert.False(Admits(siloPolicy, port, helmTest));
            Assert.False(Admits(siloPolicy, port, client));
            Assert.False(Admits(siloPolicy, port, stranger));
        }
        foreach (var (policy, port) in new[] { (siloPolicy, 30000), (redisPolicy, 6379) }) // the gateway and Redis: the release and its clients
        {
            Assert.True(Admits(policy, port, siloLabels));
            Assert.True(Admits(policy, port, helmTest));
            Assert.True(Admits(policy, port, client));
            Assert.False(Admits(policy, port, stranger));
        }
        Assert.False(Admits(redisPolicy, 11111, siloLabels)); // the Redis pod opens no other port
        Assert.DoesNotContain(Render("--set", "networkPolicy.enabled=false"), m => m.Kind == "NetworkPolicy");
    }

    /// <summary>
    /// A silo's environment as Kubernetes would give it: values, Secret keys, the pod's IP (here loopback), and
    /// $(VAR) references expanded.
    /// </summary>
    private static Dictionary<string, string> PodEnvironment(List<Manifest> manifests, Dictionary<object, object> container)
    {
        var env = new Dictionary<string, string>();
        foreach (var entry in List(container, "env"))
        {
            string name = (string)entry["name"];
            if (entry.TryGetValue("value", out var value)) env[name] = (string)value;
            else if (Map(entry, "valueFrom").TryGetValue("fieldRef", out var field))
                env[name] = Assert.IsType<Dictionary<object, object>>(field)["fieldPath"] is "status.podIP" ? "127.0.0.1" : throw new InvalidOperationException($"{name}: unexpected fieldRef");
            else
            {
                var key = Map(entry, "valueFrom", "secretKeyRef");
                var secret = One(manifests, "Secret", (string)key["name"]).Body;
                env[name] = secret.ContainsKey("stringData") ? (string)Map(secret, "stringData")[(string)key["key"]]
                    : System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)Map(secret, "data")[(string)key["key"]]));
            }
        }
        foreach (string name in env.Keys.ToList())
            env[name] = System.Text.RegularExpressions.Regex.Replace(env[name], @"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", m => env.GetValueOrDefault(m.Groups[1].Value, m.Value));
        return env;
    }

    [SkippableFact]
    public void Every_setting_the_chart_gives_a_silo_is_one_the_silo_reads()
    {
        var manifests = Render("-f", Path.Combine(Chart, "values-gpu.yaml"));
        var clusterOptions = typeof(global::Lwf.Silo.LwfClusterOptions).GetProperties().Select(p => p.Name).ToHashSet();
        var siloOptions = typeof(global::Lwf.Grains.LwfSiloOptions).GetProperties().Select(p => p.Name).ToHashSet();
        string[] others = ["POD_IP", "REDIS_PASSWORD", "Urls", "HOME", "LWF_HOME", "Logging__LogLevel__Default"];
        foreach (var deployment in manifests.Where(m => m.Kind == "Deployment" && m.Name.EndsWith("-silo", StringComparison.Ordinal)))
            foreach (string name in PodEnvironment(manifests, SiloContainer(deployment)).Keys)
            {
                bool known = name.Split("__") switch
                {
                    ["Cluster", var key] => clusterOptions.Contains(key),
                    ["Lwf", var key] => siloOptions.Contains(key),
                    _ => others.Contains(name),
                };
                Assert.True(known, $"{deployment.Name} sets {name}, which no silo option reads");
            }
    }

    /// <summary>
    /// The chart's silo environment, run here: one silo process joins the cluster through Redis and becomes ready
    /// on the readiness probe's path, and every `lwf` command NOTES.txt prints runs as printed against it: the job
    /// uploaded from my-job/, followed, its log and results fetched. The kubectl lines are what Kubernetes would do
    /// (a port-forward to the gateway port, the TLS Secret's files): the test does the same and checks the objects
    /// they name are the chart's.
    /// </summary>
    [SkippableFact]
    public async Task A_silo_with_the_charts_environment_joins_redis_and_runs_the_commands_of_its_notes()
    {
        string? redis = System.Environment.GetEnvironmentVariable("LWF_REDIS");
        Skip.If(string.IsNullOrEmpty(redis), "LWF_REDIS is not set (host:port of a redis-server; .ci/run starts one)");
        int[] ports = global::Lwf.Silo.LocalCluster.FreePorts(4);
        string checkpoints = Lwf.NewTempDir(), tls = Lwf.NewTempDir(), clientTls = Lwf.NewTempDir(), data = Lwf.NewTempDir(), here = Lwf.NewTempDir();
        string[] values = ["--set", $"redis.bundled=false,cluster.siloPort={ports[0]},cluster.gatewayPort={ports[1]},cluster.httpPort={ports[2]},cluster.dataPlanePort={ports[3]}",
            "--set-string", $"redis.external.connectionString={redis},cluster.clusterId=helm-{Guid.NewGuid():N},checkpoints.mountPath={checkpoints},data.mountPath={data},tls.mountPath={tls}"];
        var manifests = Render(values);
        string notes = Notes(values);
        // The TLS Secrets the chart made, where Kubernetes would mount them: the silo's for the silo, the client's (which
        // the notes fetch) for the laptop and the test pod; they talk mutual TLS with them.
        var secret = One(manifests, "Secret", "lwf-lwf-orleans-tls");
        var clientSecret = One(manifests, "Secret", "lwf-lwf-orleans-client-tls");
        foreach (var (from, to) in new[] { (secret, tls), (clientSecret, clientTls) })
            foreach (var (file, content) in Map(from.Body, "data"))
                File.WriteAllBytes(Path.Combine(to, (string)file), Convert.FromBase64String((string)content));
        // What the notes' kubectl lines name is the chart's: the Service with the gateway port, the client's Secret and its three files.
        Assert.Contains($"port-forward service/lwf-lwf-orleans {ports[1]}:{ports[1]}", notes);
        Assert.Contains(ports[1], List(One(manifests, "Service", "lwf-lwf-orleans").Body, "spec", "ports").Select(p => Convert.ToInt32(((Dictionary<object, object>)p)["port"])));
        Assert.Contains($"get secret {clientSecret.Name} ", notes);
        Assert.DoesNotContain($"get secret {secret.Name} ", notes);
        Assert.Contains("for f in ca.crt tls.crt tls.key;", notes);
        Assert.Equal(["ca.crt", "tls.crt", "tls.key"], Map(clientSecret.Body, "data").Keys.Cast<string>().Order());
        Assert.Contains("export Cluster__TlsDirectory=$PWD/lwf-tls", notes);

        // my-job/ as the notes mean it: a job file with its model and data beside it, in the folder the commands run in;
        // a copy on the data volume for the --on-cluster line.
        foreach (string root in new[] { here, data })
        {
            string job = Path.Combine(root, "my-job");
            Directory.CreateDirectory(Path.Combine(job, "data"));
            Directory.CreateDirectory(Path.Combine(job, "model"));
            foreach (var file in Directory.GetFiles(Path.Combine(Lwf.RepoRoot, "examples", "jobs", "licenses"), "*.jsonl"))
                File.Copy(file, Path.Combine(job, "data", Path.GetFileName(file)));
            File.Copy(Path.Combine(Lwf.RepoRoot, "examples", "models", "gpt2-tiny-bpe", "config.json"), Path.Combine(job, "model", "config.json"));
            File.WriteAllText(Path.Combine(job, "job.yaml"), File.ReadAllText(Path.Combine(Lwf.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml"))
                .Replace("../../examples/models/gpt2-tiny-bpe", "model").Replace("../../examples/jobs/licenses/", "data/"));
        }

        var silo = SiloContainer(One(manifests, "Deployment", "lwf-lwf-orleans-cpu-silo"));
        var lwf = new Lwf(Lwf.NewTempDir());
        foreach (var (key, value) in PodEnvironment(manifests, silo).Where(e => e.Key is not ("HOME" or "LWF_HOME"))) lwf.Env[key] = value;
        string log = Path.Combine(Lwf.NewTempDir(), "silo.log");
        using var process = lwf.Start(log, Assert.IsType<List<object>>(silo["args"]).Cast<string>().ToArray());
        try
        {
            string ready = $"http://127.0.0.1:{Port(silo, "http")}{Map(silo, "readinessProbe", "httpGet")["path"]}";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
            var deadline = DateTime.UtcNow.AddMinutes(3);
            while (true)
            {
                Assert.False(process.HasExited, $"the silo exited ({(process.HasExited ? process.ExitCode : 0)}):\n{File.ReadAllText(log)}");
                try { if ((await http.GetAsync(ready)).IsSuccessStatusCode) break; } catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                Assert.True(DateTime.UtcNow < deadline, $"{ready} not ready after 3 minutes:\n{File.ReadAllText(log)}");
                await Task.Delay(500);
            }

            // The laptop: only what the notes' exports give it (the TLS folder, the cluster's ids; no Redis), in the folder holding my-job/.
            var laptop = new Lwf(Lwf.NewTempDir()) { WorkingDirectory = here };
            laptop.Env["Cluster__TlsDirectory"] = clientTls;
            var exported = notes.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("export Cluster__ClusterId=", StringComparison.Ordinal));
            foreach (var pair in exported["export ".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
                laptop.Env[pair[..pair.IndexOf('=')]] = pair[(pair.IndexOf('=') + 1)..];
            Assert.Equal(lwf.Env["Cluster__ClusterId"], laptop.Env["Cluster__ClusterId"]); // the silos' own
            var commands = notes.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("lwf ", StringComparison.Ordinal)).ToList();
            Assert.Equal(["lwf submit", "lwf logs", "lwf results", "lwf submit"], commands.Select(c => string.Join(' ', c.Split(' ').Take(2))));
            string? id = null;
            foreach (string command in commands)
            {
                var args = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(a => id is null ? a : a.Replace("<job-id>", id)).ToArray();
                var (code, stdout, stderr) = laptop.Run(args);
                Assert.True(code == 0, $"`{string.Join(' ', args)}` exited {code}\n{stdout}\n{stderr}\n{File.ReadAllText(log)}");
                if (id is null)
                {
                    id = stdout.Split('\n')[1].Trim();
                    Assert.Contains($"{id}: done", stdout);
                }
                if (args[0] == "logs") Assert.Contains("checkpoint 12 written", stdout);
                if (args[0] == "results") Assert.True(File.Exists(Path.Combine(here, id, "model", "model.safetensors")), $"no model in ./{id}");
            }
            string report = Path.Combine(checkpoints, id!, "results", "report.json");
            Assert.True(File.Exists(report), $"no {report}");

            // `helm test`: the chart's test pod runs `lwf status` as a client of the cluster; here it lists the job.
            var testPod = One(manifests, "Pod", "lwf-lwf-orleans-test-cluster-reachable");
            var client = Named(List(testPod.Body, "spec", "containers"), "lwf-status");
            var probe = new Lwf(Lwf.NewTempDir());
            foreach (var (key, value) in PodEnvironment(manifests, client).Where(e => e.Key is not ("HOME" or "LWF_HOME"))) probe.Env[key] = value;
            Assert.Equal(tls, probe.Env["Cluster__TlsDirectory"]);
            probe.Env["Cluster__TlsDirectory"] = clientTls; // where its own volume, the client's Secret, would be mounted
            Assert.Contains($"{id}: done", probe.Ok(Assert.IsType<List<object>>(client["args"]).Cast<string>().ToArray()));
        }
        finally
        {
            if (!process.HasExited) process.Kill(true);
        }
    }

    [SkippableTheory]
    [InlineData("redis.bundled=false", "redis.bundled is false: set redis.external.connectionString or redis.external.existingSecret")]
    [InlineData("cpuSilos.replicas=0", "no silos: set cpuSilos.replicas > 0 or gpuSilos.enabled=true")]
    [InlineData("gpuSilos.enabled=true,gpuSilos.gpusPerSilo=0", "at '/gpuSilos/gpusPerSilo': minimum: got 0, want 1")]
    [InlineData("cpuSilo.replicas=3", "additional properties 'cpuSilo' not allowed")] // values.schema.json: a misspelt key
    [InlineData("gpuSilos.device=gpu", "at '/gpuSilos/device': 'gpu' does not match pattern")]
    [InlineData("tls.existingSecret=mine", "tls.existingSecret and tls.existingClientSecret go together")]
    public void Values_that_cannot_work_are_refused_with_the_key_to_change(string set, string message)
    {
        var (code, _, stderr) = RunHelm("template", "lwf", Chart, "--set", set);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
    }
}
