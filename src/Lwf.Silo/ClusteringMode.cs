namespace Lwf.Silo;

/// <summary>The `Cluster:Clustering` values: where the silos keep Orleans' membership table.</summary>
public static class ClusteringMode
{
    /// <summary>In the first silo's memory: one process's clusters (the embedded cluster); the cluster is lost with that silo.</summary>
    public const string Localhost = "localhost";

    /// <summary>In a file that the silos of one machine share (`lwf cluster up`'s default): any silo may die.</summary>
    public const string File = "file";

    public const string Redis = "redis";

    public const string AdoNet = "adonet";

    /// <summary>Modes whose silos all run on one machine and listen on loopback only.</summary>
    public static bool OnLoopback(string mode) => mode is Localhost or File;
}
