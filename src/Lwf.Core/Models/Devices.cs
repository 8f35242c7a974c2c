using static TorchSharp.torch;

namespace Lwf.Core.Models;

/// <summary>Device names the user types (auto, cpu, cuda, cuda:N) to TorchSharp devices.</summary>
public static class Devices
{
    public static Device Resolve(string name)
    {
        name = name.Trim().ToLowerInvariant();
        if (name == "auto") name = cuda.is_available() ? "cuda" : "cpu";
        if (name == "cpu") return CPU;
        if (name.StartsWith("cuda"))
        {
            if (!cuda.is_available())
                throw new LwfInputException($"device '{name}' was asked for, but CUDA is not available (this build's libtorch backend, or no GPU)");
            // TF32 matmuls on Ampere and later, as PyTorch users set with allow_tf32 = True.
            backends.cuda.matmul.allow_tf32 = true;
            backends.cudnn.allow_tf32 = true;
            return new Device(name);
        }
        throw new LwfInputException($"device '{name}' is not one of auto, cpu, cuda, cuda:N");
    }
}
