using Lwf.Core.Data;
using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Tests.Data;

public sealed class DatasetTests
{
    private static RecordEncoder Gpt2Encoder(int? maxLength = null)
    {
        // GPT-2's own vocabulary size, so the GPT-2 tokenizer applies.
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "config.json")))!.AsObject();
        json["vocab_size"] = 50257;
        json["eos_token_id"] = 50256;
        json["n_positions"] = 64;
        var config = ModelConfig.Parse(json, "test config");
        return new RecordEncoder(TextTokenizer.Gpt2(), config, maxLength);
    }

    private static string WriteJsonl(params string[] lines)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "data.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Each_record_kind_gets_the_right_loss_tokens()
    {
        var path = WriteJsonl(
            """{"text": "Hello world"}""",
            """{"prompt": "Hello", "response": " world"}""",
            """{"input_ids": [1, 2, 3, 4], "loss_mask": [0, 0, 1, 1]}""",
            "",
            """{"prompt": "Q:", "choices": [" yes", " no"], "answer": 1}""");
        var data = JsonlDataset.Load(path, Gpt2Encoder());
        Assert.Equal(4, data.Records.Count);
        Assert.Equal([15496L, 995], data.Records[0].InputIds);
        Assert.Equal([false, true], data.Records[0].LossMask);
        Assert.Equal([15496L, 995, 50256], data.Records[1].InputIds);       // response ends with EOS
        Assert.Equal([false, true, true], data.Records[1].LossMask);      // loss on the response only
        Assert.Equal([false, false, true, true], data.Records[2].LossMask);
        Assert.Equal(2, data.Records[3].LossTokens);                       // " no" + EOS
    }

    [Fact]
    public void Long_records_keep_their_first_max_length_tokens()
    {
        var path = WriteJsonl("""{"input_ids": [1, 2, 3, 4, 5, 6, 7, 8]}""");
        var record = JsonlDataset.Load(path, Gpt2Encoder(maxLength: 5)).Records[0];
        Assert.Equal([1L, 2, 3, 4, 5], record.InputIds);
    }

    [Theory]
    [InlineData("{\"text\": \"ok then\"}\n{not json", "data.jsonl:2: not valid JSON")]
    [InlineData("[1, 2]", "data.jsonl:1: expected a JSON object")]
    [InlineData("{\"txt\": \"typo\"}", "data.jsonl:1: record has none of the known shapes")]
    [InlineData("{\"input_ids\": [1, 99999999]}", "data.jsonl:1: input_ids[1] = 99999999 is outside the vocabulary 0..50256")]
    [InlineData("{\"input_ids\": [1, \"a\"]}", "data.jsonl:1: 'input_ids' must be an array of integers")]
    [InlineData("{\"prompt\": \"a\", \"choices\": [\"x\", \"y\"], \"answer\": 5}", "data.jsonl:1: 'answer' 5 is not an index")]
    [InlineData("{\"input_ids\": [1, 2], \"loss_mask\": [0, 0]}", "data.jsonl:1: record has no loss tokens")]
    public void A_bad_line_is_an_error_naming_file_and_line(string content, string expected)
    {
        string path = Path.Combine(TestPaths.NewTempDir(), "data.jsonl");
        File.WriteAllText(path, content);
        var error = Assert.Throws<LwfInputException>(() => JsonlDataset.Load(path, Gpt2Encoder()));
        Assert.True(error.Message.Contains(expected), error.Message);
    }

    [Fact]
    public void Bad_lines_are_skipped_and_counted_when_asked()
    {
        var path = WriteJsonl("""{"text": "one two"}""", "{broken", """{"txt": 1}""", """{"text": "three four"}""");
        var data = JsonlDataset.Load(path, Gpt2Encoder(), skipBadLines: true);
        Assert.Equal(2, data.Records.Count);
        Assert.Equal(2, data.SkippedLines.Count);
        Assert.StartsWith(path + ":2:", data.SkippedLines[0]);
    }

    [Fact]
    public void Text_records_without_a_tokenizer_ask_for_input_ids()
    {
        var config = ModelConfig.Load(TestPaths.Fixture("gpt2-tiny"));
        var path = WriteJsonl("""{"text": "Hello"}""");
        var error = Assert.Throws<LwfInputException>(() => JsonlDataset.Load(path, new RecordEncoder(null, config)));
        Assert.Contains("no tokenizer", error.Message);
        Assert.Contains(":1:", error.Message);
    }

    [Fact]
    public void A_batch_is_right_padded_with_masks()
    {
        var records = new[]
        {
            new TokenizedRecord([1, 2, 3], [false, true, true]),
            new TokenizedRecord([4, 5], [false, true]),
        };
        using var batch = TokenBatch.Create(records, 0, TorchSharp.torch.CPU);
        Assert.Equal([1L, 2, 3, 4, 5, 0], batch.InputIds.data<long>().ToArray());
        Assert.Equal([1L, 1, 1, 1, 1, 0], batch.AttentionMask.data<long>().ToArray());
        Assert.Equal([false, true, true, false, true, false], batch.LossMask.data<bool>().ToArray());
        Assert.Equal(3, batch.LossTokens);
    }
}
