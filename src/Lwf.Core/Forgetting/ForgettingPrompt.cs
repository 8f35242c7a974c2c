using System.Text.Json;
using System.Text.Json.Nodes;
using Lwf.Core.Checkpoints;
using Lwf.Core.Data;
using Lwf.Core.Generation;
using Lwf.Core.Models;
using Lwf.Core.Text;

namespace Lwf.Core.Forgetting;

/// <summary>A forgetting-task prompt: its global index, where it came from and its token ids.</summary>
public sealed record ForgettingPrompt(int Index, string Source, long[] PromptIds, string? PromptText);
