using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Tests.Text;

public sealed class TokenizerTests
{
    [Theory]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData(" the", new[] { 262 })]
    [InlineData("<|endoftext|>", new[] { 50256 })]
    public void Gpt2_ids_of_known_strings_are_the_published_ones(string text, int[] ids)
    {
        Assert.Equal(ids, TextTokenizer.Gpt2().Encode(text));
    }

    [Fact]
    public void Gpt2_decoding_inverts_encoding()
    {
        var tok = TextTokenizer.Gpt2();
        const string text = "Call me Ishmael. Some years ago—never mind how long precisely—";
        Assert.Equal(text, tok.Decode(tok.Encode(text).Select(i => (long)i)));
    }

    [Fact]
    public void A_tiny_vocabulary_without_tokenizer_files_has_no_tokenizer()
    {
        var config = ModelConfig.Load(TestPaths.Fixture("gpt2-tiny"));
        Assert.Null(TextTokenizer.Load(TestPaths.Fixture("gpt2-tiny"), config));
    }

    [Fact]
    public void Vocab_and_merges_files_in_the_model_folder_are_used()
    {
        // A byte-level BPE with a handful of merges: "lo" and "low" become single tokens.
        string dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "config.json"), Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "vocab.json"), """{"l":0,"o":1,"w":2,"Ġ":3,"lo":4,"low":5,"e":6,"r":7,"<|endoftext|>":8}""");
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nl o\nlo w\n");
        var tok = TextTokenizer.Load(dir, ModelConfig.Load(dir))!;
        Assert.Equal([5, 6, 7], tok.Encode("lower"));
    }

    [Fact]
    public void A_vocabulary_the_byte_level_bpe_cannot_use_is_a_clear_error()
    {
        string dir = TestPaths.NewTempDir();
        File.Copy(Path.Combine(TestPaths.Fixture("gpt2-tiny"), "config.json"), Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "vocab.json"), """{"l":0,"o":1}""");
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\nl o\n");
        var error = Assert.Throws<LwfInputException>(() => TextTokenizer.Load(dir, ModelConfig.Load(dir)));
        Assert.Contains("vocab.json", error.Message);
        Assert.Contains("<|endoftext|>", error.Message);
    }
}
