namespace Lwf.Abstractions;

/// <summary>
/// Marks the grain interfaces (or single methods) that clients of the cluster may call: the `lwf` console's
/// submit, status, watch, cancel, resume, results and the job list. Every other grain method is the silos' own,
/// and a call to it from a client is refused (Lwf.Grains' <c>ClientCallFilter</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Interface | AttributeTargets.Method, Inherited = false)]
public sealed class ClientApiAttribute : Attribute;
