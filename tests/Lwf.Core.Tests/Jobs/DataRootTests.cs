using Lwf.Core.Jobs;

namespace Lwf.Core.Tests.Jobs;

/// <summary>
/// The data root follows links as the kernel does: the real path of each case is checked against `realpath -m`
/// (GNU coreutils, on every Debian machine), an implementation that shares no code with ours.
/// </summary>
public sealed class DataRootTests
{
    /// <summary>A root with a file, a folder, and links of every kind into and out of it; beside it, a folder outside.</summary>
    private static (string Root, string Outside) Layout()
    {
        string top = TestPaths.NewTempDir();
        string root = Path.Combine(top, "root"), outside = Path.Combine(top, "outside");
        Directory.CreateDirectory(Path.Combine(root, "jobs"));
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(root, "jobs", "data.jsonl"), "{}\n");
        File.WriteAllText(Path.Combine(outside, "secret.txt"), "not yours\n");
        File.CreateSymbolicLink(Path.Combine(root, "jobs", "inside-file"), "data.jsonl");               // relative, inside
        Directory.CreateSymbolicLink(Path.Combine(root, "inside-dir"), Path.Combine(root, "jobs"));      // absolute, inside
        File.CreateSymbolicLink(Path.Combine(root, "jobs", "outside-file"), Path.Combine(outside, "secret.txt"));
        Directory.CreateSymbolicLink(Path.Combine(root, "jobs", "up"), "../../outside");                  // relative, out
        Directory.CreateSymbolicLink(Path.Combine(root, "jobs", "chain"), Path.Combine(root, "inside-dir", "up")); // a link to a link out
        File.CreateSymbolicLink(Path.Combine(root, "loop-a"), "loop-b");
        File.CreateSymbolicLink(Path.Combine(root, "loop-b"), "loop-a");
        return (root, outside);
    }

    public static TheoryData<string, bool> Cases => new()
    {
        { "jobs/data.jsonl", true },
        { "jobs/inside-file", true },
        { "inside-dir/data.jsonl", true },
        { "jobs/../jobs/data.jsonl", true },
        { "jobs/not-yet-there.jsonl", true },
        { "jobs/outside-file", false },
        { "jobs/up/secret.txt", false },
        { "jobs/chain/secret.txt", false },
        { "inside-dir/up/../root/jobs/data.jsonl", true }, // ".." after a link is taken from where the link leads
        { "inside-dir/up/../outside/secret.txt", false },
        { "../outside/secret.txt", false },
        { "jobs/../../outside/secret.txt", false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_path_is_held_when_its_real_path_is_under_the_root(string relative, bool held)
    {
        var (root, _) = Layout();
        string path = Path.Combine(root, relative);
        var dataRoot = new DataRoot(root);
        Assert.Equal(held, dataRoot.Holds(path));
        var (code, realpath, _) = global::Lwf.Tests.TestSupport.Run(new System.Diagnostics.ProcessStartInfo("realpath") { ArgumentList = { "-m", path } }, TimeSpan.FromSeconds(30));
        Assert.Equal(0, code);
        Assert.Equal(realpath.Trim(), DataRoot.Resolve(path));
    }

    [Fact]
    public void A_link_loop_is_refused_with_the_path_and_the_limit()
    {
        var (root, _) = Layout();
        var error = Assert.Throws<LwfInputException>(() => DataRoot.Resolve(Path.Combine(root, "loop-a")));
        Assert.Equal($"{Path.Combine(root, "loop-a")}: more than {DataRoot.MaxLinks} symbolic links on the way (a loop?)", error.Message);
    }

    [Fact]
    public void A_job_is_refused_for_a_link_out_of_the_root_in_its_data_or_inside_its_model_folder_and_the_message_does_not_tell_where_it_leads()
    {
        var (root, outside) = Layout();
        string model = Path.Combine(root, "model");
        Directory.CreateDirectory(model);
        foreach (string file in Directory.GetFiles(JobFiles.TinyModel)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        string data = Path.Combine(root, "data");
        Directory.CreateDirectory(data);
        foreach (string file in Directory.GetFiles(Path.GetDirectoryName(JobFiles.ExampleData("learn-train.jsonl"))!, "*.jsonl"))
            File.Copy(file, Path.Combine(data, Path.GetFileName(file)));
        string job = Path.Combine(root, "job.yaml");
        File.WriteAllText(job, $"""
            model: model
            data:
              learn_train: data/learn-train.jsonl
              learn_eval: data/learn-eval.jsonl
            forgetting:
              arrange: none
            train:
              max_steps: 1
            """);
        var dataRoot = new DataRoot(root);
        Assert.Equal(model, dataRoot.Load(job).Model); // everything inside: accepted

        // The evaluation set swapped for a link out of the root.
        string eval = Path.Combine(data, "learn-eval.jsonl");
        File.Move(eval, Path.Combine(outside, "learn-eval.jsonl"));
        File.CreateSymbolicLink(eval, Path.Combine(outside, "learn-eval.jsonl"));
        var error = Assert.Throws<LwfInputException>(() => dataRoot.Load(job));
        Assert.Equal($"{job}: data.learn_eval {eval} is outside the cluster's data root {root} (a symbolic link on the way leads out of it)", error.Message);
        Assert.DoesNotContain(outside, error.Message);
        File.Delete(eval);
        File.Move(Path.Combine(outside, "learn-eval.jsonl"), eval);

        // A file of the model folder linked out of it: the folder is inside, its config is not.
        string config = Path.Combine(model, "config.json");
        File.Move(config, Path.Combine(outside, "config.json"));
        File.CreateSymbolicLink(config, Path.Combine(outside, "config.json"));
        error = Assert.Throws<LwfInputException>(() => dataRoot.Load(job));
        Assert.Equal($"{job}: model {config} is outside the cluster's data root {root} (a symbolic link on the way leads out of it)", error.Message);
    }

    [Fact]
    public void A_job_file_outside_the_root_is_refused_before_it_is_read()
    {
        var (root, outside) = Layout();
        string job = Path.Combine(outside, "job.yaml");
        File.WriteAllText(job, "this: [is not, yaml"); // were it parsed, the error would be a YAML one
        var error = Assert.Throws<LwfInputException>(() => new DataRoot(root).Load(job));
        Assert.Equal($"{job}: job file {job} is outside the cluster's data root {root}", error.Message);
    }
}
