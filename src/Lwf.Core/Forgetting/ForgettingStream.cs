namespace Lwf.Core.Forgetting;

/// <summary>
/// How many forgetting records each learning step carries. The learning records of a step are exactly vanilla's
/// (the same sampler, the same global batch B), so the learning data and the schedule do not change with α; the
/// forgetting records ride along in the same batch, through the same loss mean, AdamW and all-reduce.
/// Interleave: the stream is "k learning records, one forgetting record" repeated, k = round(1/portion), so step n
/// carries ⌊nB/k⌋ − ⌊(n−1)B/k⌋ of them. Ahead: the same total ⌊TB/k⌋ over T steps, B per step from step 1 until spent.
/// </summary>
public sealed record ForgettingStream(ForgettingArrangement Arrangement, double Portion, int GlobalBatchSize, int Steps)
{
    /// <summary>Learning records between two forgetting records.</summary>
    public int Every => Math.Max(1, (int)Math.Round(1 / Portion));

    /// <summary>Forgetting records the whole run carries.</summary>
    public long Total => Arrangement == ForgettingArrangement.None ? 0 : (long)Steps * GlobalBatchSize / Every;

    /// <summary>Forgetting records in learning step <paramref name="step"/> (1-based).</summary>
    public int CountAt(int step)
    {
        if (step < 1 || step > Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"steps are 1..{Steps}");
        long b = GlobalBatchSize;
        return Arrangement switch
        {
            ForgettingArrangement.Interleave => (int)(step * b / Every - (step - 1) * b / Every),
            ForgettingArrangement.Ahead => (int)Math.Clamp(Total - (step - 1) * b, 0, b),
            _ => 0,
        };
    }

    /// <summary>The cap on |D_U| (the authors': forgetting samples at most portion × the learning set).</summary>
    public static int Cap(double portion, int learningRecords) => Math.Max(1, (int)Math.Floor(portion * learningRecords));
}
