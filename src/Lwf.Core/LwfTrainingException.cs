namespace Lwf.Core;

/// <summary>
/// Training cannot go on (a non-finite loss or gradient, weights that are no longer finite): the message names the
/// stage and the step. Thrown before the optimiser touches the weights, so the last good state stays the last state.
/// </summary>
public sealed class LwfTrainingException : Exception
{
    public LwfTrainingException(string message) : base(message) { }
}
