using Lwf.Core.Checkpoints;
using Lwf.Core.Models;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

/// <summary>The diagonal Fisher F and mean gradient gL per Hugging Face parameter name, over Count records.</summary>
public sealed class FisherEstimate(IReadOnlyList<string> names, Dictionary<string, Tensor> fisher, Dictionary<string, Tensor> gradMean, long count) : IDisposable
{
    public IReadOnlyList<string> Names => names;
    public long Count => count;
    public Tensor Fisher(string name) => fisher[name];
    public Tensor GradMean(string name) => gradMean[name];

    /// <summary>float32 fisher.NAME and grad_mean.NAME, the record count in the metadata.</summary>
    public void Save(string path, FisherVariant variant) =>
        SafeTensorsFile.Write(path,
            names.Select(n => ("fisher." + n, fisher[n])).Concat(names.Select(n => ("grad_mean." + n, gradMean[n]))),
            new Dictionary<string, string> { ["count"] = count.ToString(), ["variant"] = variant.ToString().ToLowerInvariant() });

    /// <summary>Loads a file written by <see cref="Save"/>, checked against the model's parameters.</summary>
    public static FisherEstimate Load(string path, CausalLM model)
    {
        using var file = SafeTensorsFile.Open(path);
        var names = new List<string>();
        var f = new Dictionary<string, Tensor>();
        var g = new Dictionary<string, Tensor>();
        foreach (var (name, p) in model.named_parameters())
        {
            foreach (var prefix in new[] { "fisher.", "grad_mean." })
            {
                if (!file.Entries.TryGetValue(prefix + name, out var entry))
                    throw new LwfInputException($"{path}: no tensor '{prefix + name}' (is it the Fisher of another model?)");
                if (!entry.Shape.SequenceEqual(p.shape))
                    throw new LwfInputException($"{path}: '{prefix + name}' has shape [{string.Join(",", entry.Shape)}], the model's parameter [{string.Join(",", p.shape)}]");
            }
            names.Add(name);
            f[name] = file.Read("fisher." + name).to(ScalarType.Float32).to(p.device).DetachFromDisposeScope();
            g[name] = file.Read("grad_mean." + name).to(ScalarType.Float32).to(p.device).DetachFromDisposeScope();
        }
        long count = file.Metadata.TryGetValue("count", out var c) && long.TryParse(c, out var n) ? n : 0;
        return new FisherEstimate(names, f, g, count);
    }

    /// <summary>mean over all parameters of F (used to scale Fisher protection).</summary>
    public double MeanFisher()
    {
        using var _ = NewDisposeScope();
        double sum = 0; long n = 0;
        foreach (var name in names) { sum += fisher[name].to(ScalarType.Float64).sum().item<double>(); n += fisher[name].numel(); }
        return sum / Math.Max(1, n);
    }

    public void Dispose()
    {
        foreach (var t in fisher.Values.Concat(gradMean.Values)) t.Dispose();
    }
}
