using System.Security.Cryptography.X509Certificates;

namespace Lwf.Grains.Security;

/// <summary>Puts a <see cref="ClientCallProof"/> on every grain call a client sends, signed with its certificate's key.</summary>
public sealed class ClientCallSigner(X509Certificate2 certificate, TimeProvider clock) : IOutgoingGrainCallFilter
{
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        // Set inside this async method: the value travels with this call only, not back into the caller's context.
        RequestContext.Set(ClientCallProof.ContextKey, ClientCallProof.Make(certificate, context.TargetId, context.InterfaceMethod, clock.GetUtcNow()));
        await context.Invoke();
    }
}
