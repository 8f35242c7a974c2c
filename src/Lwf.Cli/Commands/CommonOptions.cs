using System.CommandLine;
using Lwf.Core.Checkpoints;
using Lwf.Core.Models;

namespace Lwf.Cli.Commands;

/// <summary>Options several commands share, declared once.</summary>
internal static class CommonOptions
{
    public static Option<string> Model() => new("--model")
    {
        Description = "Hugging Face model folder (config.json and model.safetensors; a config alone only if it asks for random weights: lwf model init)",
        Required = true,
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "auto, cpu, cuda or cuda:N",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string?> DType() => new("--dtype")
    {
        Description = "compute dtype: float32 or bfloat16 (default: the checkpoint's)",
    };

    public static Option<bool> Bf16() => new("--bf16")
    {
        Description = "bf16 mixed precision, the Trainer's bf16=True: float32 master weights and AdamW state, bfloat16 matrix products and attention",
    };

    public static CausalLM LoadModel(ParseResult parse, Option<string> model, Option<string> device, Option<string?> dtype, Option<bool>? bf16 = null)
    {
        var dtypeName = parse.GetValue(dtype);
        return PretrainedModel.Load(parse.GetValue(model)!, Devices.Resolve(parse.GetValue(device)!),
            dtypeName is null ? null : DTypes.FromConfigName(dtypeName),
            autocast: bf16 is not null && parse.GetValue(bf16) ? TorchSharp.torch.ScalarType.BFloat16 : null);
    }
}
