using Lwf.Core.Data;
using Lwf.Core.Forgetting;
using Lwf.Core.Models;
using Lwf.Core.Text;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

/// <summary>All of the pipeline's work in this process, on the trainer's own model: one shard holding everything.</summary>
public sealed class LocalWorkers(CausalLM model, JobSpec spec, RecordEncoder encoder, TextTokenizer? tokenizer, long padId,
    Action<string, long, long>? progress = null) : IPipelineWorkers
{
    private IReadOnlyList<TokenizedRecord> _records = [];
    private List<TokenizedRecord> _samples = [];

    public Task<int> PrepareAsync(CancellationToken cancellation)
    {
        _records = JsonlDataset.Load(spec.Data.LearnTrain, encoder, spec.SkipBadLines).Records;
        return Task.FromResult(_records.Count);
    }

    public Task<IReadOnlyList<SelfGeneratedSample>> SelfGenerateAsync(CancellationToken cancellation)
    {
        var prompts = SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, encoder, spec.SkipBadLines);
        var generated = SelfGeneration.Generate(model, tokenizer, prompts, spec.SelfGen,
            progress: n => progress?.Invoke("self-generation", n, (long)prompts.Count * spec.SelfGen.SamplesPerPrompt));
        _samples = generated.Select(s => s.ToRecord()).ToList();
        return Task.FromResult<IReadOnlyList<SelfGeneratedSample>>(generated);
    }

    public Task RestoreSamplesAsync(IReadOnlyList<SelfGeneratedSample> samples, CancellationToken cancellation)
    {
        _samples = samples.Select(s => s.ToRecord()).ToList();
        return Task.CompletedTask;
    }

    public Task<FisherAccumulator> FisherAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation)
    {
        var accumulator = FisherAccumulator.For(model);
        accumulator.Accumulate(model, recordIndices.Select(i => (i, _records[i])), spec.Fisher.Variant, spec.Seed,
            n => progress?.Invoke("fisher", n, recordIndices.Count));
        return Task.FromResult(accumulator);
    }

    public Task<double[]> ScoreAsync(FisherEstimate? fisher, CancellationToken cancellation) =>
        Task.FromResult(ForgettingConfidence.Score(model, _samples, spec.Forgetting.Scorer, fisher, spec.Seed,
            n => progress?.Invoke("confidence", n, _samples.Count)));

    public Task<GradientTotals> LearningGradientAsync(IReadOnlyList<int> recordIndices, CancellationToken cancellation)
    {
        var records = recordIndices.Select(i => _records[i]).ToList();
        using var sums = LearningGradient.Accumulate(model, LearningGradient.MicroBatches(records, spec.Train.MicroBatchSize), padId);
        sums.WriteToGrad(model);
        return Task.FromResult(sums.Totals);
    }

    /// <summary>Forgetting batches are cut into micro-batches of the training micro-batch size, as on shards.</summary>
    public Task<GradientTotals> ForgettingGradientAsync(IReadOnlyList<int> sampleIndices, ForgettingLossKind kind, CancellationToken cancellation)
    {
        var samples = sampleIndices.Select(i => _samples[i]).ToList();
        using var sums = ForgettingGradient.Accumulate(model, LearningGradient.MicroBatches(samples, spec.Train.MicroBatchSize), kind, padId);
        sums.WriteToGrad(model);
        return Task.FromResult(sums.Totals);
    }

    public void WeightsChanged() { }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
