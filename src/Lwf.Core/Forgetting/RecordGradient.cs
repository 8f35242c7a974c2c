using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

/// <summary>
/// g = ∇θ ℓ(x; θ) for one record x, left in the parameters' <c>.grad</c>. ℓ is the mean token NLL over
/// the record's loss tokens. One record at a time: no padding, so g is exactly the record's gradient.
/// </summary>
public static class RecordGradient
{
    /// <summary>Empirical: the record's own tokens are the labels. Returns ℓ.</summary>
    public static double Compute(CausalLM model, TokenizedRecord record)
    {
        using var scope = NewDisposeScope();
        model.zero_grad();
        var loss = MeanNll(model, record);
        loss.backward();
        return loss.item<float>();
    }

    /// <summary>ℓ of one record, with the vocabulary projection only where a loss token is predicted.</summary>
    private static Tensor MeanNll(CausalLM model, TokenizedRecord record)
    {
        var (ids, mask) = Tensors(record, model.Device);
        var (sum, count) = model.TokenNll(ids, null, mask);
        return (sum / count.clamp_min(KeptScalars.One))[0];
    }

    /// <summary>
    /// "Model" Fisher: labels sampled from the model's own predictive distribution at each loss position
    /// (the true Fisher's expectation, one sample per position). Returns ℓ on the sampled labels.
    /// </summary>
    public static double ComputeWithSampledLabels(CausalLM model, TokenizedRecord record, torch.Generator generator)
    {
        using var scope = NewDisposeScope();
        model.zero_grad();
        var (ids, mask) = Tensors(record, model.Device);
        var logits = model.Forward(ids);                                                   // [1,T,V]
        Tensor sampled;
        using (no_grad())
        {
            var probs = logits[0].narrow(0, 0, ids.shape[1] - 1).softmax(-1);             // [T-1,V]
            var draws = probs.multinomial(1, false, generator).view(1, -1);                 // [1,T-1]
            sampled = cat([ids.narrow(1, 0, 1), draws], 1);                                // labels at 1..T-1
        }
        var loss = TokenLoss.PerRowMean(logits, sampled, mask)[0];
        loss.backward();
        return loss.item<float>();
    }

    /// <summary>Mean token log-probability of the record's loss tokens (the model's confidence in it).</summary>
    public static double MeanLogProbability(CausalLM model, TokenizedRecord record)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return -MeanNll(model, record).item<float>();
    }

    private static (Tensor Ids, Tensor Mask) Tensors(TokenizedRecord record, Device device) =>
        (tensor(record.InputIds, [1, record.InputIds.Length], ScalarType.Int64).to(device),
         tensor(record.LossMask, [1, record.LossMask.Length]).to(device));
}
