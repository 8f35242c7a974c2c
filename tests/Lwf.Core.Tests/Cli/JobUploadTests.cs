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
}
