using System.Security.Cryptography;
using System.Text;
using Lwf.Abstractions;
using Lwf.Core;
using Lwf.Grains.Jobs;
using Lwf.Silo;

namespace Lwf.Grains.Tests;

/// <summary>
/// The upload grain against a real silo: an id is one client's from <see cref="IJobUploadGrain.Begin"/> until its job
/// is submitted, so another client can neither replace, drop nor swap the files; paths, sizes and checksums the client
/// got wrong are refused and leave nothing on the checkpoint volume.
/// </summary>
public sealed class JobUploadGrainTests
{
    private static readonly byte[] JobBytes = Encoding.UTF8.GetBytes("name: upload-test\n");

    private static UploadManifest Manifest(params UploadFile[] files) => new(files[0].Path, files);

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [Fact]
    public async Task An_upload_holds_its_id_against_every_other_client_until_its_job_is_submitted()
    {
        string checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(1, checkpoints);
        var upload = cluster.Client.GetGrain<IJobUploadGrain>("held");
        var manifest = Manifest(new UploadFile("job.yaml", JobBytes.Length));

        string token = await upload.Begin(manifest);
        // A second client under the same id: refused, and the first upload goes on.
        var second = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Begin(manifest));
        Assert.Contains("job id 'held' is held by another upload", second.Message);
        var forged = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Write("not-the-token", 0, 0, [1, 2, 3]));
        Assert.Contains("no upload of job 'held' under way with this token", forged.Message);
        await upload.Discard("not-the-token"); // changes nothing
        await upload.Write(token, 0, 0, JobBytes);
        await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Complete("not-the-token", [Sha(JobBytes)]));
        string jobFile = await upload.Complete(token, [Sha(JobBytes)]);
        Assert.Equal(Path.Combine(JobUploadGrain.InputsFolder(checkpoints, "held"), "job.yaml"), jobFile);
        Assert.Equal(JobBytes, File.ReadAllBytes(jobFile));

        // Uploaded, not yet submitted: still the first client's (no one swaps the files before its Submit).
        await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Begin(manifest));
        await upload.Discard("not-the-token");
        Assert.Equal(JobBytes, File.ReadAllBytes(jobFile));

        // Its own Discard (a job refused at submit) ends the hold and leaves nothing behind; the id is free again.
        await upload.Discard(token);
        Assert.False(Directory.Exists(Path.Combine(checkpoints, "held")));
        string again = await upload.Begin(manifest);
        Assert.NotEqual(token, again);
        await upload.Discard(again);
    }

    [Theory]
    [InlineData("../escape.yaml", "is not a path inside the job's folder")]
    [InlineData("/etc/passwd", "is not a path inside the job's folder")]
    [InlineData("data/./x.jsonl", "is not a path inside the job's folder")]
    [InlineData("data\\..\\x.jsonl", "is not a path inside the job's folder")]
    public async Task A_path_out_of_the_job_folder_is_refused_before_a_byte_is_written(string path, string expected)
    {
        string checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(1, checkpoints);
        var upload = cluster.Client.GetGrain<IJobUploadGrain>("paths");
        var error = await Assert.ThrowsAsync<LwfInputException>(async () =>
            await upload.Begin(Manifest(new UploadFile("job.yaml", JobBytes.Length), new UploadFile(path, 1))));
        Assert.Contains(expected, error.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(checkpoints));
    }

    [Fact]
    public async Task Wrong_sizes_offsets_and_checksums_drop_the_upload_and_leave_nothing()
    {
        string checkpoints = Repo.NewTempDir();
        await using var cluster = await LocalCluster.StartAsync(1, checkpoints);
        var upload = cluster.Client.GetGrain<IJobUploadGrain>("sums");
        var manifest = Manifest(new UploadFile("job.yaml", JobBytes.Length));

        var twice = await Assert.ThrowsAsync<LwfInputException>(async () =>
            await upload.Begin(Manifest(new UploadFile("job.yaml", 1), new UploadFile("job.yaml", 1))));
        Assert.Contains("'job.yaml' is in the upload twice", twice.Message);
        var notListed = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Begin(new UploadManifest("other.yaml", manifest.Files)));
        Assert.Contains("the job file 'other.yaml' is not among the uploaded files", notListed.Message);

        string token = await upload.Begin(manifest);
        var gap = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Write(token, 0, 5, JobBytes));
        Assert.Contains("expected them at 0", gap.Message);
        var tooLong = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Write(token, 0, 0, [.. JobBytes, 0]));
        Assert.Contains("is larger than the", tooLong.Message);
        await upload.Write(token, 0, 0, JobBytes);
        var sum = await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Complete(token, [Sha([1, 2, 3])]));
        Assert.Contains("arrived with SHA-256", sum.Message);
        Assert.False(Directory.Exists(Path.Combine(checkpoints, "sums")));
        // A failed Complete ends the upload: its token opens nothing any more.
        await Assert.ThrowsAsync<LwfInputException>(async () => await upload.Write(token, 0, 0, JobBytes));
    }
}
