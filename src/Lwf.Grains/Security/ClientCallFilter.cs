using System.Reflection;
using Lwf.Abstractions;
using Microsoft.Extensions.Logging;

namespace Lwf.Grains.Security;

/// <summary>
/// Keeps clients to the client API: a call to an LWF grain method not marked <see cref="ClientApiAttribute"/>, or to the
/// management grain's other methods, runs only when it carries a <see cref="SiloCallProof"/> (every call a silo sends
/// does: <see cref="SiloCallSigner"/>), so that a program that reaches the gateway with a client's certificate cannot
/// prepare another job's shards, swap its replicas or read its weights, whatever sender its messages name. With TLS off
/// there is no silo key to prove anything with, and the sender a call names is taken at its word (a network nothing
/// else can reach).
/// </summary>
public sealed partial class ClientCallFilter(IClusterMembershipService membership, ILogger<ClientCallFilter> logger, IServiceProvider services, TimeProvider clock)
    : IIncomingGrainCallFilter
{
    private readonly SiloCallProof? _proof = services.GetService(typeof(SiloCallProof)) as SiloCallProof;
    private readonly ClientCallProof? _clientProof = services.GetService(typeof(ClientCallProof)) as ClientCallProof;

    /// <summary>Orleans' management grain: what `lwf cluster status` reads, nothing that changes the cluster.</summary>
    private static readonly HashSet<string> ManagementReads = [nameof(IManagementGrain.GetHosts), nameof(IManagementGrain.GetSimpleGrainStatistics)];

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        var method = context.InterfaceMethod;
        var now = clock.GetUtcNow();
        // The silos' proof, checked once per call (every internal call passes here): it lets the silos' own methods
        // through, and it makes a call the cluster's rather than a client's.
        bool fromSilo = _proof is not null && _proof.Verify(RequestContext.Get(SiloCallProof.ContextKey) as string, context.TargetId, method, now);
        if (Refuses(method, context.SourceId, fromSilo))
        {
            LogRefused(logger, Name(method), context.SourceId?.ToString() ?? "unnamed");
            throw new UnauthorizedAccessException($"{Name(method)} is not part of the client API: only the cluster's silos call it");
        }
        // Who calls the LWF grains: the cluster itself (null), or the client whose proof holds. With TLS off nobody is
        // told apart (null). Set here, in this call's own flow, so that nothing a client sends can name it.
        ClientIdentity? caller = null;
        if (_clientProof is not null && !fromSilo && IsLwf(method))
        {
            caller = _clientProof.Verify(RequestContext.Get(ClientCallProof.ContextKey) as string, context.TargetId, method, now);
            if (caller is null)
            {
                LogRefused(logger, Name(method), context.SourceId?.ToString() ?? "unnamed");
                throw new UnauthorizedAccessException($"{Name(method)}: the call carries no valid client proof (a client of this cluster signs each call with its certificate's key)");
            }
        }
        ClientIdentity.Caller = caller;
        await context.Invoke();
    }

    private static string Name(MethodInfo method) => $"{method.DeclaringType?.Name}.{method.Name}";

    private static bool IsLwf(MethodInfo method) => method.DeclaringType?.Assembly == typeof(ClientApiAttribute).Assembly;

    /// <summary>Whether a call is refused: a method outside the client API without a silo's proof (with TLS off: from a client).</summary>
    public bool Refuses(System.Reflection.MethodInfo method, GrainId target, GrainId? source, string? proof) =>
        Refuses(method, source, _proof is not null && _proof.Verify(proof, target, method, clock.GetUtcNow()));

    private bool Refuses(MethodInfo method, GrainId? source, bool fromSilo)
    {
        if (IsClientApi(method)) return false;
        if (_proof is not null) return !fromSilo;
        return source is { } s && GrainTypePrefix.IsClient(s) && !IsSilosOwn(s);
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
