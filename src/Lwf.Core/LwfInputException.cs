namespace Lwf.Core;

/// <summary>
/// A problem with what the user gave us (a file, a key, a value, a limit), worded for the user.
/// Callers at the edge (the CLI, the grains) print the message without a stack trace.
/// </summary>
public sealed class LwfInputException : Exception
{
    public LwfInputException(string message) : base(message) { }
    public LwfInputException(string message, Exception inner) : base(message, inner) { }
}
