using System.Text.RegularExpressions;

namespace Lwf.Cli;

/// <summary>Silos as people name them: host:port, not Orleans' "S127.0.0.1:41981:155107527" (its generation is noise to a reader).</summary>
internal static partial class SiloNames
{
    public static string Short(string siloAddress) => OrleansAddress().Match(siloAddress) is { Success: true } m ? m.Groups[1].Value : siloAddress;

    [GeneratedRegex(@"^S?(.+:\d+):\d+$")]
    private static partial Regex OrleansAddress();
}
