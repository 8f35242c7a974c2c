using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using static TorchSharp.torch;

namespace Lwf.Core.Models;

public enum ModelFamily { Gpt2, Llama }
