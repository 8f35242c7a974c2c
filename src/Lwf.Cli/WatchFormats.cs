namespace Lwf.Cli;

internal static class WatchFormats
{
    public static WatchFormat Choose(bool json) =>
        json ? WatchFormat.Json : Console.IsOutputRedirected || Console.IsErrorRedirected ? WatchFormat.Lines : WatchFormat.Live;
}
