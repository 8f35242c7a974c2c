namespace Lwf.Core.Tasks;

/// <summary>A word problem and its answer; <see cref="Answer"/> is computed from the operands, never stored apart.</summary>
public sealed record ArithmeticProblem(string Name, string Item, char Operation, int A, int B)
{
    private static readonly string[] Names = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Keiko", "Liam"];
    private static readonly string[] Items = ["apple", "book", "coin", "marble", "pencil", "sticker", "card", "shell", "stamp", "button"];

    public int Answer => Operation switch
    {
        '+' => A + B,
        '-' => A - B,
        '*' => A * B,
        '/' => A / B,
        _ => throw new InvalidOperationException($"operation {Operation}"),
    };

    public string Text => Operation switch
    {
        '+' => $"{Name} has {A} {Item}s and gets {B} more. How many {Item}s does {Name} have now?",
        '-' => $"{Name} had {A} {Item}s and gave away {B}. How many {Item}s are left?",
        '*' => $"{Name} buys {A} bags with {B} {Item}s in each. How many {Item}s is that?",
        '/' => $"{Name} shares {A} {Item}s equally among {B} friends. How many {Item}s does each friend get?",
        _ => throw new InvalidOperationException($"operation {Operation}"),
    };

    public string Prompt => $"Q: {Text}\nA:";

    public static ArithmeticProblem Random(Random random)
    {
        string name = Names[random.Next(Names.Length)], item = Items[random.Next(Items.Length)];
        char op = "+-*/"[random.Next(4)];
        int a = random.Next(2, 60), b = random.Next(2, 60);
        return op switch
        {
            '-' => new(name, item, op, Math.Max(a, b) + 1, Math.Min(a, b)),
            '*' => new(name, item, op, a % 12 + 2, b % 12 + 2),
            '/' => new(name, item, op, (a % 12 + 2) * (b % 9 + 2), b % 9 + 2), // divides exactly
            _ => new(name, item, op, a, b),
        };
    }
}
