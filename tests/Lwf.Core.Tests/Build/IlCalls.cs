using System.Reflection;
using System.Reflection.Emit;

namespace Lwf.Core.Tests.Build;

/// <summary>
/// The methods a method's IL calls (call, callvirt, newobj, ldftn, ldvirtftn), read from its body with the
/// runtime's own token resolution: what a test needs to find calls that no compiler warning names.
/// </summary>
public static class IlCalls
{
    private static readonly Dictionary<short, OpCode> Codes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(c => c.Value);

    private static readonly HashSet<short> Calls = [OpCodes.Call.Value, OpCodes.Callvirt.Value, OpCodes.Newobj.Value, OpCodes.Ldftn.Value, OpCodes.Ldvirtftn.Value];

    public const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every method and constructor that <paramref name="assembly"/> declares, nested and generated types included.</summary>
    public static IEnumerable<MethodBase> Methods(Assembly assembly) =>
        Types(assembly).SelectMany(t => t.GetMethods(Everything).Cast<MethodBase>().Concat(t.GetConstructors(Everything)));

    private static IEnumerable<Type> Types(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.OfType<Type>(); }
    }

    /// <summary>The methods <paramref name="method"/> calls, in IL order; a token the runtime cannot resolve is skipped.</summary>
    public static IEnumerable<MethodBase> Of(MethodBase method) => WithNext(method).Select(c => c.Callee);

    /// <summary>
    /// The calls of <paramref name="method"/>, each with the instruction after it (what is done with the result:
    /// stored in a local or a static field, or passed on at once).
    /// </summary>
    public static IEnumerable<(MethodBase Callee, OpCode Next)> WithNext(MethodBase method)
    {
        byte[]? il;
        try { il = method.GetMethodBody()?.GetILAsByteArray(); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or BadImageFormatException) { yield break; }
        if (il is null) yield break;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        MethodBase? pending = null;
        for (int at = 0; at < il.Length;)
        {
            short value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            var code = Codes[value];
            if (pending is not null)
            {
                yield return (pending, code);
                pending = null;
            }
            at += code.Size;
            if (code.OperandType == OperandType.InlineSwitch)
            {
                at += 4 + 4 * BitConverter.ToInt32(il, at);
                continue;
            }
            if (Calls.Contains(code.Value))
            {
                MethodBase? callee = null;
                try { callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, at), typeArgs, methodArgs); }
                catch (Exception e) when (e is ArgumentException or TypeLoadException or MissingMethodException or BadImageFormatException or FileNotFoundException) { }
                pending = callee;
            }
            at += OperandSize(code.OperandType);
        }
        if (pending is not null) yield return (pending, OpCodes.Nop);
    }

    private static int OperandSize(OperandType type) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        _ => 4,
    };
}
