using System.Diagnostics;
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
        var start = new ProcessStartInfo(helm!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2))) { process.Kill(true); throw new TimeoutException("helm " + string.Join(' ', args)); }
        return (process.ExitCode, stdout.Result, stderr.Result);
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
        Assert.DoesNotContain(manifests, m => m.Kind is "ServiceMonitor" or "ConfigMap");
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

        // Redis: the connection string names the bundled Service's host and port.
        var redisService = One(manifests, "Service", "lwf-lwf-orleans-redis");
        One(manifests, "Deployment", "lwf-lwf-orleans-redis");
        Assert.Equal($"{redisService.Name}:{List(redisService.Body, "spec", "ports")[0]["port"]}", env["Cluster__RedisConnectionString"]);

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

    [SkippableTheory]
    [InlineData("redis.bundled=false", "redis.bundled is false: set redis.external.connectionString or redis.external.existingSecret")]
    [InlineData("cpuSilos.replicas=0", "no silos: set cpuSilos.replicas > 0 or gpuSilos.enabled=true")]
    [InlineData("gpuSilos.enabled=true,gpuSilos.gpusPerSilo=0", "gpuSilos.gpusPerSilo must be at least 1")]
    public void Values_that_cannot_work_are_refused_with_the_key_to_change(string set, string message)
    {
        var (code, _, stderr) = RunHelm("template", "lwf", Chart, "--set", set);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
    }
}
