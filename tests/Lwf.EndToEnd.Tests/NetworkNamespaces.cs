using System.Diagnostics;

namespace Lwf.EndToEnd.Tests;

/// <summary>
/// Network namespaces of a test's own, each joined to one bridge of the test's own by a veth pair, on a private /24
/// nothing else uses: processes started in them (<see cref="Start"/>) reach each other and the bridge's address
/// (the host side: the test, its redis-server) and nothing else. <see cref="Cut"/> takes a namespace's link down, so
/// its processes run on cut off from everyone (a partition), and <see cref="Mend"/> brings it back. This kernel has
/// no netem: link down/up is the fault. Needs root (CAP_NET_ADMIN) and iproute2; <see cref="TryCreate"/> says why not.
/// </summary>
internal sealed class NetworkNamespaces : IDisposable
{
    private readonly string _tag;
    private readonly int _count;
    private readonly string _subnet; // "10.A.B": the bridge is .1, namespace i is .(10 + i)

    private NetworkNamespaces(string tag, int count, string subnet)
    {
        _tag = tag;
        _count = count;
        _subnet = subnet;
    }

    /// <summary>The host side's address, on the bridge: what the namespaces reach the test's own servers at.</summary>
    public string BridgeAddress => $"{_subnet}.1";

    public string Address(int i) => $"{_subnet}.{10 + i}";

    public string Namespace(int i) => $"lwf-{_tag}-{i}";

    private string Bridge => $"lwfb{_tag}";

    private string HostVeth(int i) => $"lwfh{_tag}{i}"; // interface names are at most 15 characters

    private string InnerVeth(int i) => $"lwfn{_tag}{i}";

    /// <summary>Namespaces 0..count-1 on a bridge; null, with the reason, where they cannot be made (not root, no `ip`).</summary>
    public static NetworkNamespaces? TryCreate(int count, out string why)
    {
        why = "";
        if (!IsRoot())
        {
            why = "network namespaces need root (CAP_NET_ADMIN); .ci/run runs as root";
            return null;
        }
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip"))
        {
            why = "`ip` (iproute2) is not installed; .ci/run installs it";
            return null;
        }
        string tag = Guid.NewGuid().ToString("N")[..6];
        // A /24 in 10.200-254.x: the test's own, chosen at random so that test runs side by side do not meet.
        string subnet = $"10.{Random.Shared.Next(200, 255)}.{Random.Shared.Next(0, 256)}";
        var made = new NetworkNamespaces(tag, count, subnet);
        try
        {
            made.Ip("link", "add", made.Bridge, "type", "bridge");
            made.Ip("addr", "add", $"{made.BridgeAddress}/24", "dev", made.Bridge);
            made.Ip("link", "set", made.Bridge, "up");
            for (int i = 0; i < count; i++)
            {
                string ns = made.Namespace(i);
                made.Ip("netns", "add", ns);
                made.Ip("link", "add", made.HostVeth(i), "type", "veth", "peer", "name", made.InnerVeth(i));
                made.Ip("link", "set", made.InnerVeth(i), "netns", ns);
                made.Ip("link", "set", made.HostVeth(i), "master", made.Bridge);
                made.Ip("link", "set", made.HostVeth(i), "up");
                made.Ip("-n", ns, "addr", "add", $"{made.Address(i)}/24", "dev", made.InnerVeth(i));
                made.Ip("-n", ns, "link", "set", made.InnerVeth(i), "up");
                made.Ip("-n", ns, "link", "set", "lo", "up");
            }
            return made;
        }
        catch (InvalidOperationException e)
        {
            made.Dispose();
            why = $"network namespaces could not be made here: {e.Message}";
            return null;
        }
    }

    private static bool IsRoot()
    {
        try { return File.ReadAllLines("/proc/self/status").Any(l => l.StartsWith("Uid:", StringComparison.Ordinal) && l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1] == "0"); }
        catch (IOException) { return false; }
    }

    /// <summary>Namespace <paramref name="i"/> loses its link: its processes live on, and no packet leaves or reaches it.</summary>
    public void Cut(int i) => Ip("link", "set", HostVeth(i), "down");

    public void Mend(int i) => Ip("link", "set", HostVeth(i), "up");

    /// <summary>A start of <paramref name="start"/>'s program inside namespace <paramref name="i"/> (`ip netns exec`, which execs it: the pid is the program's).</summary>
    public ProcessStartInfo Inside(int i, ProcessStartInfo start)
    {
        var inside = new ProcessStartInfo("ip") { UseShellExecute = false, WorkingDirectory = start.WorkingDirectory };
        foreach (string a in (string[])["netns", "exec", Namespace(i), start.FileName]) inside.ArgumentList.Add(a);
        foreach (string a in start.ArgumentList) inside.ArgumentList.Add(a);
        foreach (var (key, value) in start.Environment) inside.Environment[key] = value;
        return inside;
    }

    private void Ip(params string[] args)
    {
        var (code, stdout, stderr) = global::Lwf.Tests.TestSupport.Run(new ProcessStartInfo("ip", args), TimeSpan.FromSeconds(30));
        if (code != 0) throw new InvalidOperationException($"ip {string.Join(' ', args)}: exit {code}: {(stderr + stdout).Trim()}");
    }

    public void Dispose()
    {
        // Deleting a namespace deletes the veth inside it, and with it its host-side peer.
        for (int i = 0; i < _count; i++)
            try { Ip("netns", "del", Namespace(i)); } catch (InvalidOperationException) { }
        try { Ip("link", "del", Bridge); } catch (InvalidOperationException) { }
    }
}
