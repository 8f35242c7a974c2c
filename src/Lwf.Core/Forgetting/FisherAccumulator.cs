using Lwf.Core.Data;
using Lwf.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

/// <summary>
/// Sums over records of g⊙g and of g (on the model's device) with their count: the diagonal
/// Fisher F = Σ g⊙g / N and the learning direction gL = Σ g / N (DESIGN.md §1.2). Sums from any split of
/// the records into shards add up to the sums of the whole (<see cref="Add"/>); memory is O(parameters).
/// In float64 (the default of `lwf fisher`, and of jobs with float64 gradient sums) sums over the same records
/// agree whatever order shards add them in; a job in float32 keeps two float32 tensors the model's size.
/// </summary>
public sealed class FisherAccumulator : IDisposable
{
    private readonly List<string> _names;
    private readonly Dictionary<string, Tensor> _sumSquares = new(), _sums = new();

    public FisherAccumulator(IEnumerable<(string Name, Tensor Like)> parameters, ScalarType dtype = ScalarType.Float64)
    {
        _names = [];
        foreach (var (name, like) in parameters)
        {
            _names.Add(name);
            _sumSquares[name] = zeros(like.shape, dtype, like.device).DetachFromDisposeScope();
            _sums[name] = zeros(like.shape, dtype, like.device).DetachFromDisposeScope();
        }
    }

    public static FisherAccumulator For(CausalLM model, Training.GradientPrecision precision = Training.GradientPrecision.Float64) =>
        new(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)),
            precision == Training.GradientPrecision.Float64 ? ScalarType.Float64 : ScalarType.Float32);

    public long Count { get; private set; }

    public IReadOnlyList<string> Names => _names;

    public Tensor SumSquares(string name) => _sumSquares[name];

    public Tensor Sum(string name) => _sums[name];

    /// <summary>Adds each record's gradient (empirical Fisher).</summary>
    public void Accumulate(CausalLM model, IEnumerable<TokenizedRecord> records, Action<int>? progress = null) =>
        Accumulate(model, records.Select((r, i) => (i, r)), FisherVariant.Empirical, 0, progress);

    /// <summary>
    /// Adds each record's gradient. The model variant samples a record's labels with a generator seeded by
    /// (seed, the record's global index), so a record gives the same gradient on any shard.
    /// </summary>
    public void Accumulate(CausalLM model, IEnumerable<(int Index, TokenizedRecord Record)> records, FisherVariant variant,
        long seed, Action<int>? progress = null)
    {
        int done = 0;
        foreach (var (index, record) in records)
        {
            if (variant == FisherVariant.Empirical) RecordGradient.Compute(model, record);
            else
            {
                using var generator = new torch.Generator((ulong)Training.Seeds.Combine(seed, index), model.Device);
                RecordGradient.ComputeWithSampledLabels(model, record, generator);
            }
            AddCurrentGradient(model);
            progress?.Invoke(++done);
        }
        model.zero_grad();
    }

    /// <summary>Adds sums computed elsewhere (a shard, a silo): per parameter Σg⊙g and Σg, and their count.</summary>
    public void AddSums(Func<string, (Tensor SumSquares, Tensor Sum)> sums, long count)
    {
        using var _ = no_grad();
        foreach (var name in _names)
        {
            var (sq, sum) = sums(name);
            _sumSquares[name].PlusInPlace(sq.to(_sumSquares[name].dtype).to(_sumSquares[name].device));
            _sums[name].PlusInPlace(sum.to(_sums[name].dtype).to(_sums[name].device));
        }
        Count += count;
    }

    private void AddCurrentGradient(CausalLM model)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (p.grad is null) continue; // a parameter this record does not reach (e.g. an unused position)
            var g = p.grad.to(ScalarType.Float32);
            var sumSquares = _sumSquares[name];
            if (sumSquares.dtype == ScalarType.Float32)
            {
                sumSquares.PlusInPlace(g.Square());
                _sums[name].PlusInPlace(g);
                continue;
            }
            sumSquares.PlusInPlace((g * g).to(ScalarType.Float64));
            _sums[name].PlusInPlace(g.to(ScalarType.Float64));
        }
        Count++;
    }

    /// <summary>After the sums were reduced in place across replicas: the count they now cover.</summary>
    public void SetCount(long count) => Count = count;

    /// <summary>Adds another shard's sums (same parameters) into this one.</summary>
    public void Add(FisherAccumulator other)
    {
        using var _ = no_grad();
        foreach (var name in _names)
        {
            _sumSquares[name].PlusInPlace(other._sumSquares[name].to(_sumSquares[name].device));
            _sums[name].PlusInPlace(other._sums[name].to(_sums[name].device));
        }
        Count += other.Count;
    }

    /// <summary>F and gL: the sums divided by the count.</summary>
    public FisherEstimate ToEstimate()
    {
        if (Count == 0) throw new LwfInputException("no records were accumulated: the Fisher needs at least one learning record");
        var fisher = new Dictionary<string, Tensor>();
        var mean = new Dictionary<string, Tensor>();
        using Scalar count = Count;
        foreach (var n in _names)
        {
            fisher[n] = _sumSquares[n].div(count).to(ScalarType.Float32).DetachFromDisposeScope();
            mean[n] = _sums[n].div(count).to(ScalarType.Float32).DetachFromDisposeScope();
        }
        return new FisherEstimate(_names, fisher, mean, Count);
    }

    public void Dispose()
    {
        foreach (var t in _sumSquares.Values.Concat(_sums.Values)) t.Dispose();
    }
}
