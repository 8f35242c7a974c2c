// Two classes run at a time here (xunit.runner.json); the longest start first (tests/Shared/LongestFirst.cs).
[assembly: TestCollectionOrderer("Lwf.Tests.LongestFirst", "Lwf.Grains.Tests")]
