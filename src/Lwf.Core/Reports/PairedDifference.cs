using System.Globalization;

namespace Lwf.Core.Reports;

/// <summary>
/// Differences paired by seed (a variant minus what it is compared with, the same data split and base model):
/// their mean, the 95 % confidence interval of the mean by Student's t with n − 1 degrees of freedom, and how many
/// seeds moved the wanted way. With one seed there is no interval (NaN bounds).
/// </summary>
public readonly record struct PairedDifference(double Mean, double Low, double High, int Count, int Wanted)
{
    public const double Confidence = 0.95;

    /// <param name="differences">One difference per seed.</param>
    /// <param name="wantedSign">+1 when a rise is wanted (a learning metric), −1 when a fall is (forgetting accuracy, perplexity).</param>
    public static PairedDifference Of(IReadOnlyList<double> differences, int wantedSign)
    {
        int n = differences.Count;
        if (n == 0) return new(double.NaN, double.NaN, double.NaN, 0, 0);
        double mean = differences.Average();
        int wanted = differences.Count(d => Math.Sign(d) == Math.Sign(wantedSign));
        if (n == 1) return new(mean, double.NaN, double.NaN, 1, wanted);
        double sd = Math.Sqrt(differences.Sum(d => (d - mean) * (d - mean)) / (n - 1));
        double half = StudentT.Quantile(1 - (1 - Confidence) / 2, n - 1) * sd / Math.Sqrt(n);
        return new(mean, mean - half, mean + half, n, wanted);
    }

    /// <summary>The interval lies wholly above zero.</summary>
    public bool Above => Low > 0;

    /// <summary>The interval lies wholly below zero.</summary>
    public bool Below => High < 0;

    /// <summary>"+0.120 [+0.050, +0.190]", or the mean alone without an interval, or "–" without data.</summary>
    public string Format(string format = "F3")
    {
        if (Count == 0) return "–";
        string Signed(double x) => x.ToString($"+{Pattern(format)};-{Pattern(format)};{Pattern(format)}", CultureInfo.InvariantCulture);
        return double.IsNaN(Low) ? Signed(Mean) : $"{Signed(Mean)} [{Signed(Low)}, {Signed(High)}]";
    }

    private static string Pattern(string format) =>
        format.Length > 1 && format[0] == 'F' && int.TryParse(format.AsSpan(1), out int digits) ? (digits == 0 ? "0" : "0." + new string('0', digits)) : "0.000";
}
