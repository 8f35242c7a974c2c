using System.CommandLine;
using Lwf.Core;
using Lwf.Core.Generation;
using Lwf.Core.Text;

namespace Lwf.Cli.Commands;

/// <summary>`lwf generate`: first line the new token ids, then the text when the model has a tokenizer.</summary>
internal static class GenerateCommand
{
    public static Command Build()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var bf16 = CommonOptions.Bf16();
        var prompt = new Option<string?>("--prompt") { Description = "prompt text (needs a tokenizer)" };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "prompt token ids, comma-separated: 1,2,3" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "tokens to generate at most", Required = true };
        var greedy = new Option<bool>("--greedy") { Description = "greedy decoding (the default unless --temperature, --top-p or --top-k is given)" };
        var temperature = new Option<double?>("--temperature") { Description = "sample with this temperature" };
        var topP = new Option<double?>("--top-p") { Description = "nucleus sampling: keep tokens up to this cumulative probability" };
        var topK = new Option<int?>("--top-k") { Description = "keep the k most likely tokens" };
        var seed = new Option<long>("--seed") { Description = "sampling seed", DefaultValueFactory = _ => 0 };
        var noCache = new Option<bool>("--no-cache") { Description = "recompute the whole sequence each step (no KV cache)" };
        var command = new Command("generate", "Generate tokens from a prompt")
        {
            model, prompt, promptIds, maxNew, greedy, temperature, topP, topK, seed, noCache, device, dtype, bf16,
        };
        command.Validators.Add(result =>
        {
            if ((result.GetValue(prompt) is null) == (result.GetValue(promptIds) is null))
                result.AddError("give exactly one of --prompt and --prompt-ids");
            bool sampling = result.GetValue(temperature) is not null || result.GetValue(topP) is not null || result.GetValue(topK) is not null;
            if (sampling && result.GetValue(greedy))
                result.AddError("--greedy cannot be combined with --temperature, --top-p or --top-k");
        });
        command.SetAction(LwfCommandLine.Guard(parse =>
        {
            using var lm = CommonOptions.LoadModel(parse, model, device, dtype, bf16);
            var tokenizer = TextTokenizer.Load(parse.GetValue(model)!, lm.Config);
            long[] ids;
            if (parse.GetValue(promptIds) is { } text)
                ids = ParseIds(text);
            else
            {
                if (tokenizer is null)
                    throw new LwfInputException($"{parse.GetValue(model)}: the model has no tokenizer; use --prompt-ids");
                ids = tokenizer.Encode(parse.GetValue(prompt)!).Select(i => (long)i).ToArray();
            }
            bool sampling = parse.GetValue(temperature) is not null || parse.GetValue(topP) is not null || parse.GetValue(topK) is not null;
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Greedy = !sampling,
                Temperature = parse.GetValue(temperature) ?? 1.0,
                TopP = parse.GetValue(topP) ?? 1.0,
                TopK = parse.GetValue(topK) ?? 0,
                Seed = parse.GetValue(seed),
                UseCache = !parse.GetValue(noCache),
                StopTokenIds = GenerationConfig.StopTokenIds(parse.GetValue(model)!, lm.Config),
            };
            var output = TextGenerator.Generate(lm, [ids], options)[0];
            Console.WriteLine(string.Join(" ", output));
            if (tokenizer is not null) Console.WriteLine(tokenizer.Decode(output));
            return 0;
        }));
        return command;
    }

    private static long[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new LwfInputException("--prompt-ids is empty");
        return parts.Select(p => long.TryParse(p, out var v) ? v : throw new LwfInputException($"--prompt-ids: '{p}' is not a token id")).ToArray();
    }
}
