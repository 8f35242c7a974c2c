using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Evaluation;

/// <summary>
/// A saved model folder scored on evaluation files after its job has finished, with the metrics and batching of a
/// job's own evaluation (<see cref="EvalSet"/>): how `lwf experiment` reads a run on the validation split that its job
/// never named.
/// </summary>
public static class SavedModelEvaluation
{
    public static List<EvalResult> Evaluate(string modelDirectory, IEnumerable<(string Name, string Path)> sets, int maxLength, int maxNewTokens,
        string device = "cpu", int batchSize = 16)
    {
        using var model = PretrainedModel.Load(modelDirectory, Devices.Resolve(device));
        var encoder = new RecordEncoder(TextTokenizer.Load(modelDirectory, model.Config), model.Config, maxLength);
        return sets.Select(s => EvalSet.Load(s.Name, s.Path, encoder).Evaluate(model, encoder, maxNewTokens, batchSize)).ToList();
    }
}
