namespace Lwf.Cli;

/// <summary>One silo process started by `lwf cluster up`.</summary>
public sealed record SiloProcess(int Pid, int SiloPort, int GatewayPort, int HttpPort, string Log);
