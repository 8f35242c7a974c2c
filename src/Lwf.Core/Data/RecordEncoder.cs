using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Data;

/// <summary>
/// Turns the record kinds into token ids with a loss mask.
/// Truncation: a record longer than <see cref="MaxLength"/> keeps its first MaxLength tokens (the end is
/// dropped, as with transformers' truncation="longest_first" on one sequence); a record left with no
/// loss token is refused. Llama-family models get the BOS token first (as their tokenizers add it);
/// prompt/response records end with EOS so the model learns to stop.
/// </summary>
public sealed class RecordEncoder
{
    private readonly TextTokenizer? _tokenizer;
    private readonly ModelConfig _config;

    public RecordEncoder(TextTokenizer? tokenizer, ModelConfig config, int? maxLength = null)
    {
        _tokenizer = tokenizer;
        _config = config;
        MaxLength = Math.Min(maxLength ?? config.MaxPositions, config.MaxPositions);
        if (MaxLength < 2) throw new LwfInputException($"max length {MaxLength} is too short: a record needs at least 2 tokens");
    }

    public int MaxLength { get; }

    public int VocabSize => _config.VocabSize;

    public TextTokenizer? Tokenizer => _tokenizer;

    private long? Bos => _config.Family == ModelFamily.Llama ? _config.BosTokenId : null;

    private long? Eos => _config.EosTokenIds.Length > 0 ? _config.EosTokenIds[0] : null;

    public TokenizedRecord FromText(string text)
    {
        var ids = Prefix().Concat(Tokenize(text)).ToArray();
        var mask = ids.Select((_, t) => t > 0).ToArray();
        return Truncate(ids, mask);
    }

    /// <summary>Prompt ids for generation (BOS first where the family wants it), untruncated.</summary>
    public long[] FromPrompt(string prompt) => Prefix().Concat(Tokenize(prompt)).ToArray();

    /// <summary>Response ids as they follow a prompt; EOS appended when asked and the model has one.</summary>
    public long[] FromResponse(string response, bool appendEos)
    {
        var tail = Tokenize(response).ToList();
        if (appendEos && Eos is { } eos) tail.Add(eos);
        return tail.ToArray();
    }

    public TokenizedRecord FromPromptResponse(string prompt, string response, bool appendEos = true) =>
        FromPromptAndResponseIds(FromPrompt(prompt), FromResponse(response, appendEos));

    /// <summary>prompt ++ response, the loss on the response.</summary>
    public TokenizedRecord FromPromptAndResponseIds(long[] head, long[] tail)
    {
        var ids = head.Concat(tail).ToArray();
        var mask = ids.Select((_, t) => t >= head.Length && t > 0).ToArray();
        return Truncate(ids, mask);
    }

    public TokenizedRecord FromIds(long[] ids, bool[]? lossMask)
    {
        for (int t = 0; t < ids.Length; t++)
            if (ids[t] < 0 || ids[t] >= _config.VocabSize)
                throw new LwfInputException($"input_ids[{t}] = {ids[t]} is outside the vocabulary 0..{_config.VocabSize - 1}");
        if (lossMask is not null && lossMask.Length != ids.Length)
            throw new LwfInputException($"loss_mask has {lossMask.Length} entries but input_ids has {ids.Length}");
        var mask = lossMask?.Select((m, t) => m && t > 0).ToArray() ?? ids.Select((_, t) => t > 0).ToArray();
        return Truncate(ids, mask);
    }

    private IEnumerable<long> Prefix() => Bos is { } bos ? [bos] : [];

    private IEnumerable<long> Tokenize(string text)
    {
        if (_tokenizer is null)
            throw new LwfInputException("this model has no tokenizer (no tokenizer.json, vocab.json+merges.txt or tokenizer.model, and a vocabulary too small for GPT-2's); give pre-tokenized {\"input_ids\": [...]} records");
        return _tokenizer.Encode(text).Select(i => (long)i);
    }

    private TokenizedRecord Truncate(long[] ids, bool[] mask)
    {
        if (ids.Length > MaxLength)
        {
            ids = ids[..MaxLength];
            mask = mask[..MaxLength];
        }
        if (ids.Length < 2) throw new LwfInputException($"record has {ids.Length} token(s); at least 2 are needed to predict one");
        if (!mask.Any(m => m)) throw new LwfInputException($"record has no loss tokens{(ids.Length == MaxLength ? $" within its first {MaxLength} tokens (the model's limit)" : "")}");
        return new TokenizedRecord(ids, mask);
    }
}
