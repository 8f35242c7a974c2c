namespace Lwf.Grains.Replicas;

/// <summary>The shard was activated without its setup (new, or re-activated on another silo): prepare it again.</summary>
[GenerateSerializer]
public sealed class ShardNotPreparedException : Exception
{
    public ShardNotPreparedException() { }
    public ShardNotPreparedException(string shard) : base($"shard {shard} is not prepared") { }
}
