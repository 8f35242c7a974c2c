using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Lwf.Grains;

/// <summary>
/// LWF's own exceptions cross grain calls as themselves. Orleans serializes only exceptions of the Microsoft, System and
/// Azure namespaces by default; any other thrown on a remote silo (a NaN loss on a shard's silo, a bad job file read on
/// the gateway's) reached the caller as "CodecNotFoundException: Could not find a codec for type Lwf.…" instead of its
/// message, and was retried as if a silo had died.
/// </summary>
public static class LwfExceptionSerialization
{
    public const string NamespacePrefix = "Lwf";

    public static IServiceCollection AddLwfExceptionSerialization(this IServiceCollection services) =>
        services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add(NamespacePrefix));
}
