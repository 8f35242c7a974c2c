using System.Reflection;
using Lwf.Abstractions;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;

namespace Lwf.Grains.Security;

/// <summary>
/// Keeps clients to the client API: a call that comes from a client (a program connected through a gateway) to an
/// LWF grain method not marked <see cref="ClientApiAttribute"/>, or to the management grain's other methods, is refused before it runs, so that a stranger who can
/// reach the gateway cannot prepare another job's shards, swap its replicas or read its weights. Calls from grains,
/// and from the clients hosted inside the cluster's own silos (a trainer's loop runs outside its activation), pass.
/// </summary>
public sealed partial class ClientCallFilter(IClusterMembershipService membership, ILogger<ClientCallFilter> logger) : IIncomingGrainCallFilter
{
    /// <summary>Orleans' management grain: what `lwf cluster status` reads, nothing that changes the cluster.</summary>
    private static readonly HashSet<string> ManagementReads = [nameof(IManagementGrain.GetHosts), nameof(IManagementGrain.GetSimpleGrainStatistics)];

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.SourceId is { } source && GrainTypePrefix.IsClient(source) && !IsSilosOwn(source) && !IsClientApi(context.InterfaceMethod))
        {
            string method = $"{context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}";
            LogRefused(logger, method, source.ToString());
            throw new UnauthorizedAccessException($"{method} is not part of the client API: only the cluster's silos call it");
        }
        return context.Invoke();
    }

    /// <summary>
    /// Whether a client may call the method: the LWF grains' methods marked <see cref="ClientApiAttribute"/>, the
    /// management grain's reads, and Orleans' own system interfaces (membership, directory), which Orleans guards itself.
    /// </summary>
    public static bool IsClientApi(MethodInfo method) => method.DeclaringType switch
    {
        { } type when type.Assembly == typeof(ClientApiAttribute).Assembly =>
            method.IsDefined(typeof(ClientApiAttribute)) || type.IsDefined(typeof(ClientApiAttribute)),
        { } type when type == typeof(IManagementGrain) => ManagementReads.Contains(method.Name),
        _ => true,
    };

    /// <summary>A silo's hosted client is named after the silo ("hosted-" and its address); only a member of the cluster counts.</summary>
    private bool IsSilosOwn(GrainId client)
    {
        string key = client.Key.ToString();
        const string Hosted = "hosted-";
        if (!key.StartsWith(Hosted, StringComparison.Ordinal)) return false;
        string address = key[Hosted.Length..];
        return membership.CurrentSnapshot.Members.Keys.Any(s => s.ToParsableString() == address);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a client's call to {Method} (client {Client})")]
    private static partial void LogRefused(ILogger logger, string method, string client);
}
