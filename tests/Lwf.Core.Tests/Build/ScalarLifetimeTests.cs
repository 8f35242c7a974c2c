using System.Reflection;
using System.Reflection.Emit;
using TorchSharp;

namespace Lwf.Core.Tests.Build;

/// <summary>
/// TorchSharp frees a <see cref="Scalar"/> in its finalizer and hands <c>Scalar.Handle</c> to libtorch without keeping
/// the Scalar reachable, so a temporary one (<c>t * 0.5</c>, or the alpha of 1 that <c>a + b</c> makes inside
/// TorchSharp) can be freed by the finalizer thread while libtorch still reads it. CI saw it twice under load:
/// "Unknown scalar type" from pow, and "Expected false to be true" from add's toFloat. Our code therefore makes no
/// Scalar that the GC may free early: constants are static fields (<see cref="Lwf.Core.Models.KeptScalars"/>), values
/// known at run time are <c>using</c> locals, and no call goes to a TorchSharp method that makes a Scalar of its own.
/// </summary>
public class ScalarLifetimeTests
{
    private static readonly Assembly Torch = typeof(Scalar).Assembly;

    /// <summary>Every assembly of the product: the CLI's is "lwf".</summary>
    private static readonly string[] Ours = ["Lwf.Abstractions", "Lwf.Core", "Lwf.Grains", "Lwf.Silo", "lwf"];

    [Fact]
    public void No_method_of_ours_lets_the_GC_free_a_Scalar_that_libtorch_still_reads()
    {
        var unsafeTorch = TorchMethodsThatMakeTemporaryScalars();
        // Sanity: what CI saw fail is found (a + b, and AdamW's step behind a delegate), and add with a Scalar alpha is not.
        Assert.Contains(unsafeTorch, m => m.Name == "op_Addition" && m.DeclaringType == typeof(torch.Tensor) && m.GetParameters().All(p => p.ParameterType == typeof(torch.Tensor)));
        Assert.Contains(unsafeTorch, m => m.Name == "step" && m.DeclaringType == typeof(TorchSharp.Modules.AdamW));
        Assert.DoesNotContain(unsafeTorch, m => m.Name == "add" && !m.IsStatic && m.GetParameters().Length == 2 && m.GetParameters()[1].ParameterType == typeof(Scalar));

        var found = new List<string>();
        foreach (var method in Ours.Select(name => Assembly.Load(new AssemblyName(name))).SelectMany(IlCalls.Methods))
        {
            var calls = IlCalls.Of(method).ToList();
            string where = $"{method.DeclaringType?.FullName}.{method.Name}";
            foreach (var callee in calls.Where(c => unsafeTorch.Contains(c) && !MakesScalar(c)))
                found.Add($"{where} calls {callee.DeclaringType?.Name}.{callee}, which makes a Scalar the GC may free early");
            foreach (var made in calls.Select(Made).OfType<Type>().Where(t => UnsafeOverrides(t, unsafeTorch) && !method.DeclaringType!.IsSubclassOf(t)))
                found.Add($"{where} makes a {made.Name}, whose {string.Join(", ", UnsafeOverrides(made, unsafeTorch, all: true))} make Scalars the GC may free early");
            // A Scalar made here must go into a static field, or into a local that a using block disposes (its Dispose
            // keeps it alive to the block's end); passed on at once, it is a temporary.
            bool disposes = calls.Any(IsDispose);
            foreach (var (callee, next) in IlCalls.WithNext(method).Where(c => MakesScalar(c.Callee)))
                if (!(next == OpCodes.Stsfld || (disposes && IsStoreToLocal(next))))
                    found.Add($"{where} makes a temporary Scalar ({callee.Name}({callee.GetParameters()[0].ParameterType.Name})) that the GC may free early");
        }
        Assert.True(found.Count == 0, $"{found.Count} places:\n" + string.Join("\n", found.Distinct().Order()));
    }

    /// <summary>
    /// TorchSharp's methods that make a Scalar and do not dispose it (the temporaries), and every TorchSharp method
    /// that calls one of those or makes a delegate of one.
    /// </summary>
    private static HashSet<MethodBase> TorchMethodsThatMakeTemporaryScalars()
    {
        var graph = IlCalls.Methods(Torch).ToDictionary(m => m, m => IlCalls.Of(m).ToList());
        var found = graph.Where(e => e.Value.Any(MakesScalar) && !e.Value.Any(IsDispose)).Select(e => e.Key).ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (method, calls) in graph)
                if (!found.Contains(method) && calls.Any(found.Contains))
                    grew |= found.Add(method);
        }
        return found;
    }

    /// <summary>The optimizer or module a call makes (a constructor's type, or a factory's return type).</summary>
    private static Type? Made(MethodBase m)
    {
        var type = m is ConstructorInfo ? m.DeclaringType : (m as MethodInfo)?.ReturnType;
        return type is not null && type.Assembly == Torch && (type.IsSubclassOf(typeof(torch.optim.Optimizer)) || type.IsSubclassOf(typeof(torch.nn.Module))) ? type : null;
    }

    /// <summary>The virtual methods of <paramref name="type"/> that we call through a base class and that make temporaries.</summary>
    private static bool UnsafeOverrides(Type type, HashSet<MethodBase> unsafeTorch) => UnsafeOverrides(type, unsafeTorch, all: true).Any();

    private static IEnumerable<string> UnsafeOverrides(Type type, HashSet<MethodBase> unsafeTorch, bool all) =>
        type.GetMethods(IlCalls.Everything & ~BindingFlags.Static).Where(m => m.IsVirtual && unsafeTorch.Contains(m)).Select(m => m.Name).Distinct();

    private static bool IsStoreToLocal(OpCode code) =>
        code == OpCodes.Stloc || code == OpCodes.Stloc_S || code == OpCodes.Stloc_0 || code == OpCodes.Stloc_1 || code == OpCodes.Stloc_2 || code == OpCodes.Stloc_3;

    private static bool MakesScalar(MethodBase m) =>
        m is MethodInfo { ReturnType: var r } && r == typeof(Scalar) && (m.Name == "op_Implicit" || m.Name == "ToScalar");

    /// <summary>A using block's Dispose: Scalar's own, or IDisposable's that a using statement calls.</summary>
    private static bool IsDispose(MethodBase m) => m.Name == "Dispose" && (m.DeclaringType == typeof(Scalar) || m.DeclaringType == typeof(IDisposable));
}
