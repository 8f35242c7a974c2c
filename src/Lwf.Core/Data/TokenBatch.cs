using static TorchSharp.torch;

namespace Lwf.Core.Data;

/// <summary>Records right-padded to one length: ids and attention mask [B,T] int64, loss mask [B,T] bool.</summary>
public sealed class TokenBatch : IDisposable
{
    public required Tensor InputIds { get; init; }
    public required Tensor AttentionMask { get; init; }
    public required Tensor LossMask { get; init; }
    public required long LossTokens { get; init; }

    /// <summary>Real tokens of the records (padding left out): what "tokens per second" counts in HF's Trainer.</summary>
    public required long InputTokens { get; init; }

    public static TokenBatch Create(IReadOnlyList<TokenizedRecord> records, long padId, Device device)
    {
        int rows = records.Count, length = records.Max(r => r.InputIds.Length);
        var ids = new long[rows * length];
        var attention = new long[rows * length];
        var loss = new bool[rows * length];
        Array.Fill(ids, padId);
        for (int b = 0; b < rows; b++)
        {
            var r = records[b];
            Array.Copy(r.InputIds, 0, ids, b * length, r.InputIds.Length);
            Array.Fill(attention, 1L, b * length, r.InputIds.Length);
            Array.Copy(r.LossMask, 0, loss, b * length, r.LossMask.Length);
        }
        return new TokenBatch
        {
            InputIds = tensor(ids, [rows, length], ScalarType.Int64).to(device),
            AttentionMask = tensor(attention, [rows, length], ScalarType.Int64).to(device),
            LossMask = tensor(loss, [rows, length]).to(device),
            LossTokens = records.Sum(r => (long)r.LossTokens),
            InputTokens = records.Sum(r => (long)r.InputIds.Length),
        };
    }

    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        LossMask.Dispose();
    }
}
