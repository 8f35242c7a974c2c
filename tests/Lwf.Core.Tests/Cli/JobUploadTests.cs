using Lwf.Core.Jobs;
using Lwf.Cli;

namespace Lwf.Core.Tests.Cli;

public sealed class JobUploadTests
{
    [Fact]
    public void A_job_of_the_repository_uploads_as_written_from_the_smallest_folder_that_holds_its_files()
    {
        // cluster/jobs/tiny-lwf.yaml names ../../examples/...: the repository's root holds them all.
        string job = Path.Combine(TestPaths.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml");
        string root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(TestPaths.RepoRoot));
        Assert.Equal(root, JobUpload.SmallestFolderHolding(job));
        var upload = JobUpload.Collect(job, workingDirectory: null);
        Assert.Equal(root, upload.WorkingDirectory);
        Assert.Equal("cluster/jobs/tiny-lwf.yaml", upload.Manifest.Files[0].Path);
        Assert.Contains("examples/models/gpt2-tiny-bpe/config.json", upload.Manifest.Files.Select(f => f.Path));

        // Given a --working-dir that does not hold them: the error names the one that would.
        var error = Assert.Throws<LwfInputException>(() => JobUpload.Collect(job, Path.GetDirectoryName(job)));
        Assert.Contains($"--working-dir {root} holds every file the job names (or leave --working-dir out)", error.Message);
    }

    [Fact]
    public async Task A_job_whose_files_share_only_the_file_systems_root_uploads_from_there()
    {
        // A job folder elsewhere (here a temporary one) naming the repository's model and data relative to itself, as
        // `lwf data build` writes the model of ~/.lwf/models: their common folder may be "/", which holds everything.
        string dir = TestPaths.NewTempDir();
        string job = Path.Combine(dir, "job.yaml");
        string Rel(params string[] parts) => Path.GetRelativePath(dir, Path.Combine([TestPaths.RepoRoot, .. parts]));
        string text = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "cluster", "jobs", "tiny-lwf.yaml"))
            .Replace("../../examples/models/gpt2-tiny-bpe", Rel("examples", "models", "gpt2-tiny-bpe"))
            .Replace("../../examples/jobs/licenses", Rel("examples", "jobs", "licenses"));
        File.WriteAllText(job, text);

        var collect = Task.Run(() => JobUpload.Collect(job, workingDirectory: null));
        var upload = await collect.WaitAsync(TimeSpan.FromSeconds(60)); // it once looped for ever at "/"
        Assert.True(DataRoot.HoldsLexically(upload.WorkingDirectory, Path.GetFullPath(job)), upload.WorkingDirectory);
        Assert.True(DataRoot.HoldsLexically(upload.WorkingDirectory, Path.GetFullPath(TestPaths.RepoRoot)), upload.WorkingDirectory);
        Assert.Contains(upload.Manifest.Files, f => f.Path.EndsWith("examples/models/gpt2-tiny-bpe/config.json", StringComparison.Ordinal));
        Assert.All(upload.Manifest.Files, f => Assert.False(Path.IsPathRooted(f.Path) || f.Path.StartsWith("../", StringComparison.Ordinal), f.Path));
        Assert.True(DataRoot.HoldsLexically("/", "/root/x"));
        Assert.False(DataRoot.HoldsLexically("/root/a", "/root/ab"));
    }
}
