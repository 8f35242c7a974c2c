namespace Lwf.Grains.Tests;

/// <summary>
/// Tests that read the process's meters whole: every silo in a test process publishes on the one "Lwf.Orleans" meter,
/// so a job of a class running beside them would show in their sums (the jobs-by-state gauge, for one). xUnit runs
/// this collection alone, after the classes that run two at a time (xunit.runner.json).
/// </summary>
[CollectionDefinition(nameof(ProcessMetricsCollection), DisableParallelization = true)]
public sealed class ProcessMetricsCollection;
