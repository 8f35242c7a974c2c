namespace Lwf.Core.Jobs;

/// <summary>
/// Enum values by their snake_case names (constant_with_warmup for ConstantWithWarmup), as transformers spells its
/// options: one spelling for job files and command lines alike.
/// </summary>
public static class SnakeCaseEnum
{
    /// <summary>The value of <typeparamref name="T"/> named <paramref name="text"/> (any letter case), or null.</summary>
    public static T? Parse<T>(string text) where T : struct, Enum =>
        Enum.GetValues<T>().Select(v => (T?)v).FirstOrDefault(v => Name(v!.Value.ToString()) == text.ToLowerInvariant());

    /// <summary>Every value's name, for an error message.</summary>
    public static string Names<T>() where T : struct, Enum => string.Join(", ", Enum.GetNames<T>().Select(Name));

    public static string Name(string pascal) =>
        string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
