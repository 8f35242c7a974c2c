using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Lwf.Core.Forgetting;

public enum FisherVariant { Empirical, Model }
