namespace Lwf.Grains.Security;

/// <summary>Puts a <see cref="SiloCallProof"/> on every grain call a silo sends (its grains' and its hosted client's).</summary>
public sealed class SiloCallSigner(SiloCallProof proof, TimeProvider clock) : IOutgoingGrainCallFilter
{
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        // Set inside this async method: the value travels with this call only, not back into the caller's context.
        RequestContext.Set(SiloCallProof.ContextKey, proof.Make(context.TargetId, context.InterfaceMethod, clock.GetUtcNow()));
        // A client's proof that came in with the call this one serves stays behind: the silos' calls are the cluster's.
        RequestContext.Remove(ClientCallProof.ContextKey);
        await context.Invoke();
    }
}
