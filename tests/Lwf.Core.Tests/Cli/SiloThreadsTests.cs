using Lwf.Cli.Commands;

namespace Lwf.Core.Tests.Cli;

public sealed class SiloThreadsTests
{
    [Fact]
    public void Silos_started_on_one_machine_share_its_cores_unless_the_environment_says()
    {
        int cores = Environment.ProcessorCount;
        Assert.Equal(Math.Max(1, cores / 3), ClusterCommands.SiloThreads(3, new Dictionary<string, string?>()));
        Assert.Equal(cores, ClusterCommands.SiloThreads(1, new Dictionary<string, string?>()));
        Assert.Equal(1, ClusterCommands.SiloThreads(cores + 1, new Dictionary<string, string?>())); // more silos than cores: one each, never none
        Assert.Null(ClusterCommands.SiloThreads(3, new Dictionary<string, string?> { ["Lwf__TorchThreads"] = "4" }));
        Assert.Null(ClusterCommands.SiloThreads(3, new Dictionary<string, string?> { ["OMP_NUM_THREADS"] = "2" }));
    }
}
