using System.Globalization;
using System.Text;

namespace Lwf.Core.Reports;

/// <summary>
/// How `lwf experiment` chooses its learning rate and α on the validation split, as the paper's authors chose theirs
/// by the target task: the value whose runs score best on the learning task. α is chosen only among the values that
/// keep held-out perplexity within <see cref="HeldOutLimit"/> × vanilla's on the same validation text (this product's
/// bar for a regression); ties go to the smaller value.
/// </summary>
public static class ValidationChoice
{
    public const double HeldOutLimit = 1.5;

    /// <summary>The learning rate of the vanilla runs with the best mean validation learning score.</summary>
    public static double LearningRate(IReadOnlyList<ValidationCandidate> rates) => Best(rates.Where(c => c.Learn.Count > 0));

    /// <summary>
    /// The α of the lwf-fisher runs with the best mean validation learning score among those whose mean validation
    /// held-out perplexity is at most <see cref="HeldOutLimit"/> × <paramref name="vanillaHeldOut"/>; when none is, the α
    /// with the lowest perplexity.
    /// </summary>
    public static double Alpha(IReadOnlyList<ValidationCandidate> alphas, double vanillaHeldOut)
    {
        var tried = alphas.Where(c => c.Learn.Count > 0).ToList();
        if (tried.Count == 0) throw new InvalidOperationException("no α has validation scores to choose from");
        var within = tried.Where(c => c.MeanHeldOut <= HeldOutLimit * vanillaHeldOut).ToList();
        return within.Count > 0 ? Best(within) : tried.OrderBy(c => c.MeanHeldOut).ThenBy(c => c.Value).First().Value;
    }

    private static double Best(IEnumerable<ValidationCandidate> candidates)
    {
        var list = candidates.ToList();
        if (list.Count == 0) throw new InvalidOperationException("no candidate has validation scores to choose from");
        return list.OrderByDescending(c => c.MeanLearn).ThenBy(c => c.Value).First().Value;
    }

    /// <summary>A table of the candidates' validation scores (mean ± sd over their runs), the chosen one marked.</summary>
    public static string Table(string setting, IReadOnlyList<ValidationCandidate> candidates, double? chosen)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"| {setting} | valid learn | valid forget | valid held-out perplexity | runs | chosen |");
        sb.AppendLine("| ---: | ---: | ---: | ---: | ---: | :---: |");
        foreach (var c in candidates.OrderBy(c => c.Value))
            sb.AppendLine($"| {c.Value.ToString("G", CultureInfo.InvariantCulture)} | {MeanStd.Of(c.Learn).Format("F3")} | {MeanStd.Of(c.Forget).Format("F3")} | " +
                $"{MeanStd.Of(c.HeldOut).Format("F1")} | {c.Learn.Count} | {(chosen == c.Value ? "**yes**" : "")} |");
        return sb.ToString();
    }
}
