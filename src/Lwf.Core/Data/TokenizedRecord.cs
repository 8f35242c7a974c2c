namespace Lwf.Core.Data;

/// <summary>
/// One training or scoring record as token ids. <c>LossMask[t]</c> is true when token t is a loss target
/// (predicted from tokens 0..t-1); <c>LossMask[0]</c> is always false.
/// </summary>
public sealed record TokenizedRecord(long[] InputIds, bool[] LossMask)
{
    public int LossTokens => LossMask.Count(m => m);
}
