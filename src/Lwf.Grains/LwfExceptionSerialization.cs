using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Lwf.Grains;

/// <summary>
/// LWF's own exceptions cross grain calls as themselves. Orleans serializes only exceptions of the Microsoft, System and
/// Azure namespaces by default; any other thrown on a remote silo (a NaN loss on a shard's silo, a bad job file read on
/// the gateway's) reached the caller as "CodecNotFoundException: Could not find a codec for type Lwf.…" instead of its
/// message, and was retried as if a silo had died. Polly's too: Orleans' runtime gives up a grain directory lookup
/// with Polly's TimeoutRejectedException while membership changes (a silo cut off from the others, not yet declared
/// dead), and that reached `lwf watch` as a CodecNotFoundException with a stack trace instead of a transient failure.
/// </summary>
public static class LwfExceptionSerialization
{
    public const string NamespacePrefix = "Lwf";

    private const string PollyPrefix = "Polly";

    public static IServiceCollection AddLwfExceptionSerialization(this IServiceCollection services) =>
        services.Configure<ExceptionSerializationOptions>(o =>
        {
            o.SupportedNamespacePrefixes.Add(NamespacePrefix);
            o.SupportedNamespacePrefixes.Add(PollyPrefix);
        });
}
