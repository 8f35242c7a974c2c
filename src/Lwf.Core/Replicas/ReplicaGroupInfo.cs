namespace Lwf.Core.Replicas;

/// <summary>What the replicas report once they hold the job: its learning records and the model's size.</summary>
public sealed record ReplicaGroupInfo(int LearningRecords, long Parameters);
