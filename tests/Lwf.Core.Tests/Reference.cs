using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Core.Tests;

/// <summary>A fixture's reference.safetensors, computed by transformers (see tests/fixtures/hf/README.md).</summary>
public sealed class Reference : IDisposable
{
    private readonly SafeTensorsFile _file;

    public Reference(string model)
    {
        Model = model;
        Dir = TestPaths.Fixture(model);
        _file = SafeTensorsFile.Open(Path.Combine(Dir, "reference.safetensors"));
    }

    public string Model { get; }
    public string Dir { get; }

    public Tensor this[string name] => _file.Read(name);

    public IEnumerable<string> Names => _file.Entries.Keys;

    public long[] Row(string name, int row) => this[name][row].data<long>().ToArray();

    public void Dispose() => _file.Dispose();

    public static double MaxAbsDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
}
