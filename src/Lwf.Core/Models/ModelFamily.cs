namespace Lwf.Core.Models;

public enum ModelFamily { Gpt2, Llama }
