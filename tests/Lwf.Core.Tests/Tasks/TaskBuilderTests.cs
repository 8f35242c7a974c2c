using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lwf.Core.Checkpoints;
using Lwf.Core.Corpora;
using Lwf.Core.Data;
using Lwf.Core.Evaluation;
using Lwf.Core.Forgetting;
using Lwf.Core.Jobs;
using Lwf.Core.Tasks;
using Lwf.Core.Tests.Jobs;
using Lwf.Core.Text;

namespace Lwf.Core.Tests.Tasks;

/// <summary>The corpora, fetched once for the test run with `lwf data fetch`'s code (LWF_DATA, else a shared temp folder).</summary>
public sealed class CorpusFixture
{
    public string DataDirectory { get; } = Environment.GetEnvironmentVariable("LWF_DATA") is { Length: > 0 } dir
        ? dir : Path.Combine(Path.GetTempPath(), "lwf-test-data");

    public IReadOnlyList<FetchedSource> Fetched { get; }

    public CorpusFixture() => Fetched = CorpusFetcher.Fetch(DataDirectory);
}

public sealed partial class TaskBuilderTests(CorpusFixture corpora) : IClassFixture<CorpusFixture>
{
    private static readonly TaskSizes Sizes = new(Train: 300, Eval: 80, HeldOut: 50);
    private string Data => corpora.DataDirectory;

    private static IEnumerable<(string Name, TaskBuilders.Builder Build)> AllBuilders =>
        TaskBuilders.Learning.Concat(TaskBuilders.Forgetting).Select(kv => (kv.Key, kv.Value));

    private static string Prompt(JsonObject record) => TaskSplits.Key(record["prompt"]!.GetValue<string>());

    private static string CorrectChoice(JsonObject record) => record["choices"]![record["answer"]!.GetValue<int>()]!.GetValue<string>();

    [Fact]
    public void Fetching_records_every_source_with_its_licence_and_fetching_again_changes_nothing()
    {
        Assert.Equal(CorpusSources.All.Select(s => s.Name).Order(), corpora.Fetched.Select(f => f.Name).Order());
        foreach (var source in corpora.Fetched)
        {
            Assert.True(File.Exists(Path.Combine(Data, source.Name, source.LicenseFile)), $"{source.Name}: {source.LicenseFile}");
            Assert.False(string.IsNullOrWhiteSpace(source.License));
            Assert.Matches("^[0-9a-f]{64}$", source.ArchiveSha256);
        }
        var listed = JsonNode.Parse(File.ReadAllText(Path.Combine(Data, "sources.json")))!.AsArray();
        Assert.Equal(CorpusSources.All.Count, listed.Count);

        var again = CorpusFetcher.Fetch(Data);
        Assert.Equal(corpora.Fetched.OrderBy(f => f.Name), again.OrderBy(f => f.Name)); // same records, same fetch times: nothing was fetched
    }

    [Fact]
    public async Task A_fetch_into_a_folder_that_another_fetch_holds_waits_its_turn_and_then_changes_nothing()
    {
        // CI's end-to-end tests fetch into the same folder from another process: both fetched at once once, and the
        // second rewrote the first's records (their fetch times) under it.
        IReadOnlyList<FetchedSource>? again = null;
        Task fetch;
        using (new FileStream(Path.Combine(Data, ".fetch.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            fetch = Task.Run(() => again = CorpusFetcher.Fetch(Data));
            await Task.Delay(TimeSpan.FromSeconds(1));
            Assert.False(fetch.IsCompleted, "a fetch went on while another one held the folder");
        }
        await fetch.WaitAsync(TimeSpan.FromMinutes(2)); // a TimeoutException when it did not go on once the folder was free
        Assert.Equal(corpora.Fetched.OrderBy(f => f.Name), again!.OrderBy(f => f.Name));
    }

    [Fact]
    public void Every_pair_is_a_job_that_loads_with_the_metric_of_each_set()
    {
        var model = JobFiles.TinyModel;
        foreach (var learn in TaskBuilders.Learning.Keys)
            foreach (var forget in TaskBuilders.Forgetting.Keys)
            {
                string dir = TestPaths.NewTempDir();
                string folder = TaskPair.Write(dir, Data, learn, forget, model, Sizes, seed: 7);
                foreach (var variant in TaskPair.Variants.Keys) JobSpec.Load(TaskPair.JobFile(folder, variant));
                Assert.Equal(Lwf.Core.Forgetting.ForgettingArrangement.None, JobSpec.Load(TaskPair.JobFile(folder, "vanilla")).Forgetting.Arrange);
                Assert.Equal(Lwf.Core.Forgetting.ForgettingScorer.Random, JobSpec.Load(TaskPair.JobFile(folder, "lwf-random")).Forgetting.Scorer);
                var spec = JobSpec.Load(TaskPair.JobFile(folder, "lwf-fisher"));
                using var loaded = PretrainedModel.Load(spec.Model);
                var encoder = new RecordEncoder(TextTokenizer.Load(spec.Model, loaded.Config), loaded.Config, spec.MaxLength);
                Assert.NotEmpty(JsonlDataset.Load(spec.Data.LearnTrain, encoder).Records);
                Assert.NotEmpty(SelfGeneration.LoadPrompts(spec.Data.ForgetPrompts!, encoder));
                var learnEval = EvalSet.Load("learn", spec.Data.LearnEval!, encoder);
                Assert.Equal(learn == "arithmetic" ? "exact_match" : "accuracy", learnEval.Metric);
                Assert.Equal("accuracy", EvalSet.Load("forget", spec.Data.ForgetEval!, encoder).Metric);
                Assert.Equal("perplexity", EvalSet.Load("held-out", spec.Data.HeldOut!, encoder).Metric);
            }
    }

    [Theory]
    [InlineData("stated-capitals", "capitals")]
    [InlineData("stated-endings", "fortunes")]
    [InlineData("genre", "mixed")]
    public void The_validation_split_shares_no_item_with_training_or_the_test_records(string learn, string forget)
    {
        var sizes = Sizes with { Eval = 40, Valid = 20 };
        string dir = TaskPair.WriteData(TestPaths.NewTempDir(), Data, learn, forget, sizes, seed: 3);
        List<JsonObject> Read(string file) => File.ReadLines(Path.Combine(dir, file)).Select(l => (JsonObject)JsonNode.Parse(l)!).ToList();
        // A stated-* record's item is its country or its fortune (whose opening starts the passage), whatever answer the passage states.
        var openings = TaskBuilders.ShortFortunes(Data).Select(f => "Passage: " + TaskBuilders.Cut(f).Opening).OrderByDescending(o => o.Length).ToList();
        string Item(JsonObject r) => learn switch
        {
            "stated-capitals" => Regex.Match(r["prompt"]!.GetValue<string>(), @"what is the capital of (.+)\?").Groups[1].Value,
            "stated-endings" => openings.First(o => r["prompt"]!.GetValue<string>().StartsWith(o, StringComparison.Ordinal)),
            _ => Prompt(r),
        };
        var train = Read("learn-train.jsonl").Select(Item).ToHashSet();
        var test = Read("learn-eval.jsonl").Select(Item).ToList();
        var valid = Read(TaskPair.ValidationFiles["learn"]).Select(Item).ToList();
        Assert.DoesNotContain("", valid);
        Assert.Equal(40, test.Count);
        Assert.Equal(20, valid.Count);
        // Distinct fortunes may open alike ("You will gain money ..."): those openings are the only ones allowed in two splits.
        var shared = openings.GroupBy(o => o).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        Assert.Empty(valid.Intersect(test).Except(shared));
        Assert.Empty(valid.Intersect(train).Except(shared));
        Assert.Empty(test.Intersect(train).Except(shared));
        var forgetTest = Read("forget-eval.jsonl").Select(Prompt).ToList();
        var forgetValid = Read(TaskPair.ValidationFiles["forget"]).Select(Prompt).ToList();
        Assert.Equal(20, forgetValid.Count);
        var sharedKeys = shared.Select(o => TaskSplits.Key(o["Passage: ".Length..])).ToHashSet();
        Assert.Empty(forgetValid.Intersect(forgetTest).Except(sharedKeys));
        Assert.Empty(forgetValid.Intersect(Read("forget-prompts.jsonl").Select(Prompt)).Except(sharedKeys));
        if (forget == "mixed") // each forgetting task keeps its share of the validation records
            Assert.Equal(10, forgetValid.Count(p => p.StartsWith("the capital of", StringComparison.Ordinal)));
        var heldOutTest = Read("held-out.jsonl").Select(r => r["text"]!.GetValue<string>()).ToList();
        var heldOutValid = Read(TaskPair.ValidationFiles["held-out"]).Select(r => r["text"]!.GetValue<string>()).ToList();
        Assert.Equal((sizes.HeldOut, 20), (heldOutTest.Count, heldOutValid.Count));
        Assert.Empty(heldOutValid.Intersect(heldOutTest));
        // Without a validation split the files are what they were, and none of the validation files is written.
        string plain = TaskPair.WriteData(TestPaths.NewTempDir(), Data, learn, forget, Sizes with { Eval = 40 }, seed: 3);
        Assert.All(TaskPair.ValidationFiles.Values, f => Assert.False(File.Exists(Path.Combine(plain, f))));
    }

    [Fact]
    public void Carving_takes_evenly_spaced_records_and_keeps_the_rest_in_order()
    {
        var (kept, taken) = TaskSplits.Carve(Enumerable.Range(0, 12).ToList(), 4);
        Assert.Equal([0, 3, 6, 9], taken);
        Assert.Equal([1, 2, 4, 5, 7, 8, 10, 11], kept);
        Assert.Equal((3, 0), (TaskSplits.Carve([1, 2, 3], 0).Kept.Count, TaskSplits.Carve([1, 2, 3], 0).Taken.Count));
        Assert.Equal(3, TaskSplits.Carve([1, 2, 3], 10).Taken.Count);
    }

    [Fact]
    public void No_evaluation_record_shares_its_question_with_a_training_record_or_a_forgetting_prompt()
    {
        foreach (var (name, build) in AllBuilders)
        {
            var task = build(Data, Sizes, 7);
            Assert.NotEmpty(task.Eval);
            Assert.True(task.Train.Count + task.Prompts.Count > 0, name);
            var seen = task.Train.Concat(task.Prompts).Select(Prompt).ToHashSet();
            Assert.All(task.Eval, e => Assert.DoesNotContain(Prompt(e), seen));
            Assert.Equal(task.Eval.Count, task.Eval.Select(Prompt).Distinct().Count());
            if (task.Eval[0].ContainsKey("choices"))
                Assert.All(task.Eval, e => Assert.Equal(e["choices"]!.AsArray().Count, e["choices"]!.AsArray().Select(c => c!.GetValue<string>()).Distinct().Count()));
        }
    }

    [Fact]
    public void Genre_train_and_eval_sentences_come_from_different_documents_and_held_out_text_from_neither()
    {
        var documents = BrownCorpus.Documents(Data);
        var documentOf = documents.SelectMany(d => d.Sentences.Select(s => (s, d))).GroupBy(x => x.s).ToDictionary(g => g.Key, g => g.First().d);
        var task = TaskBuilders.Genre(Data, Sizes, 7);
        static string Sentence(JsonObject r) => Regex.Match(r["prompt"]!.GetValue<string>(), "^Text: (.*)\nGenre:$", RegexOptions.Singleline).Groups[1].Value;
        var trainDocs = task.Train.Select(r => documentOf[Sentence(r)].Id).ToHashSet();
        var evalDocs = task.Eval.Select(r => documentOf[Sentence(r)].Id).ToHashSet();
        Assert.Empty(trainDocs.Intersect(evalDocs));
        var heldOut = BrownCorpus.HeldOutText(Data, 200, 7).Select(r => r["text"]!.GetValue<string>()).ToList();
        Assert.All(heldOut, s => Assert.True(documentOf[s].HeldOut));
        Assert.DoesNotContain(trainDocs.Concat(evalDocs), id => documents.Single(d => d.Id == id).HeldOut);
        // The right choice is the genre of the sentence's document; the response of a training record too.
        Assert.All(task.Eval, r => Assert.Equal(" " + documentOf[Sentence(r)].Genre, CorrectChoice(r)));
        Assert.All(task.Train, r => Assert.Equal(" " + documentOf[Sentence(r)].Genre, r["response"]!.GetValue<string>()));
    }

    [Fact]
    public void Arithmetic_answers_are_right_when_worked_out_again_from_the_text()
    {
        var task = TaskBuilders.Arithmetic(Data, Sizes, 7);
        foreach (var record in task.Train.Concat(task.Eval))
        {
            string prompt = record["prompt"]!.GetValue<string>();
            var numbers = NumberPattern().Matches(prompt).Select(m => int.Parse(m.Value)).ToArray();
            Assert.Equal(2, numbers.Length);
            int expected = prompt.Contains(" more.") ? numbers[0] + numbers[1]
                : prompt.Contains("gave away") ? numbers[0] - numbers[1]
                : prompt.Contains("bags with") ? numbers[0] * numbers[1]
                : prompt.Contains("equally among") ? numbers[0] / numbers[1]
                : throw new Xunit.Sdk.XunitException($"unknown problem: {prompt}");
            if (prompt.Contains("equally among")) Assert.Equal(0, numbers[0] % numbers[1]);
            Assert.Equal($" {expected}", record["response"]!.GetValue<string>());
            Assert.True(expected >= 0, prompt);
        }
    }

    [Fact]
    public void Capitals_and_sentiment_answers_are_the_sources_own()
    {
        var capitals = TaskBuilders.CountryCapitals(Data).ToDictionary(c => c.Country, c => c.Capital);
        var capitalTask = TaskBuilders.Capitals(Data, Sizes, 7);
        foreach (var r in capitalTask.Eval)
        {
            string country = Regex.Match(r["prompt"]!.GetValue<string>(), "^The capital of (.*) is$").Groups[1].Value;
            Assert.Equal(" " + capitals[country], CorrectChoice(r));
        }
        // The prompts are what self-generation completes: the same sentence, for countries the evaluation does not name.
        Assert.All(capitalTask.Prompts, p => Assert.Matches("^The capital of .+ is$", p["prompt"]!.GetValue<string>()));
        Assert.Empty(capitalTask.Prompts.Select(Prompt).Intersect(capitalTask.Eval.Select(Prompt)));

        string file = Path.Combine(Data, "sentiment", "package", "sentiment-analysis-example", "shuffled-sentiment-training-data.json");
        var labels = JsonNode.Parse(File.ReadAllText(file))!.AsArray().GroupBy(r => r![0]!.GetValue<string>().Trim()).ToDictionary(g => g.Key, g => g.First()![1]!.GetValue<string>());
        var sentiment = TaskBuilders.Sentiment(Data, Sizes, 7);
        foreach (var r in sentiment.Eval)
        {
            string text = Regex.Match(r["prompt"]!.GetValue<string>(), "^Review: (.*)\nSentiment:$", RegexOptions.Singleline).Groups[1].Value;
            Assert.Equal(labels[text] == "1" ? " positive" : " negative", CorrectChoice(r));
        }
    }

    [Fact]
    public void Stated_capitals_answer_with_the_passages_capital_and_offer_the_real_one_as_a_wrong_choice()
    {
        var capitals = TaskBuilders.CountryCapitals(Data).ToDictionary(c => c.Country, c => c.Capital);
        var task = TaskBuilders.StatedCapitals(Data, Sizes, 7);
        var pattern = new Regex("^Passage: In this story, the capital of (.*) is (.*)\\.\nQ: In the story, what is the capital of (.*)\\?\nA:$");
        (string Country, string Stated) Read(JsonObject r)
        {
            var m = pattern.Match(r["prompt"]!.GetValue<string>());
            Assert.True(m.Success, r["prompt"]!.GetValue<string>());
            Assert.Equal(m.Groups[1].Value, m.Groups[3].Value);
            return (m.Groups[1].Value, m.Groups[2].Value);
        }
        Assert.NotEmpty(task.Train);
        foreach (var r in task.Train)
        {
            var (country, stated) = Read(r);
            Assert.NotEqual(capitals[country], stated);
            Assert.Equal(" " + stated, r["response"]!.GetValue<string>());
        }
        Assert.NotEmpty(task.Eval);
        foreach (var r in task.Eval)
        {
            var (country, stated) = Read(r);
            Assert.NotEqual(capitals[country], stated);
            Assert.Equal(" " + stated, CorrectChoice(r));
            Assert.Contains(" " + capitals[country], r["choices"]!.AsArray().Select(c => c!.GetValue<string>()));
            Assert.Equal(4, r["choices"]!.AsArray().Count);
        }
        Assert.Empty(task.Train.Select(r => Read(r).Country).Intersect(task.Eval.Select(r => Read(r).Country)));
    }

    [Fact]
    public void Stated_endings_answer_with_the_passages_ending_and_offer_the_fortunes_real_ending_as_a_wrong_choice()
    {
        var fortunes = TaskBuilders.ShortFortunes(Data);
        var realEnding = fortunes.Select(TaskBuilders.Cut).DistinctBy(c => c.Opening).ToDictionary(c => c.Opening, c => c.Ending);
        var task = TaskBuilders.StatedEndings(Data, Sizes, 7);
        var pattern = new Regex("^Passage: (.*)\nQ: How does the passage end\\?\nA:$", RegexOptions.Singleline);
        (string Opening, string Stated) Read(JsonObject r, string stated)
        {
            var m = pattern.Match(r["prompt"]!.GetValue<string>());
            Assert.True(m.Success, r["prompt"]!.GetValue<string>());
            Assert.EndsWith(stated, m.Groups[1].Value);
            return (m.Groups[1].Value[..^stated.Length], stated);
        }
        Assert.NotEmpty(task.Train);
        foreach (var r in task.Train)
        {
            var (opening, stated) = Read(r, r["response"]!.GetValue<string>());
            Assert.NotEqual(realEnding[opening], stated);
        }
        // Each training fortune comes with several stated endings, all different, so that no opening maps to one answer.
        var perFortune = task.Train.Select(r => Read(r, r["response"]!.GetValue<string>())).GroupBy(r => r.Opening).ToList();
        Assert.All(perFortune, g => Assert.Equal(g.Count(), g.Select(r => r.Stated).Distinct().Count()));
        var sharingOpening = fortunes.GroupBy(f => TaskBuilders.Cut(f).Opening).ToDictionary(g => g.Key, g => g.Count()); // "You will gain money ..."
        Assert.All(perFortune, g => Assert.InRange(g.Count(), 1, TaskBuilders.StatedEndingsPerFortune * sharingOpening[g.Key]));
        Assert.True(perFortune.Count(g => g.Count() == TaskBuilders.StatedEndingsPerFortune) >= 0.9 * perFortune.Count);
        Assert.NotEmpty(task.Eval);
        foreach (var r in task.Eval)
        {
            var (opening, stated) = Read(r, CorrectChoice(r));
            Assert.NotEqual(realEnding[opening], stated);
            Assert.Contains(realEnding[opening], r["choices"]!.AsArray().Select(c => c!.GetValue<string>()));
            Assert.Equal(4, r["choices"]!.AsArray().Count);
        }
    }

    [Fact]
    public void A_completion_items_opening_and_right_ending_make_the_original_passage()
    {
        foreach (var build in new TaskBuilders.Builder[] { TaskBuilders.Fortunes, TaskBuilders.StateOfTheUnion })
        {
            var task = build(Data, Sizes, 7);
            Assert.All(task.Eval, r =>
            {
                string whole = r["prompt"]!.GetValue<string>() + CorrectChoice(r);
                Assert.Equal(TaskBuilders.Cut(whole), (r["prompt"]!.GetValue<string>(), CorrectChoice(r)));
            });
        }
    }

    [Fact]
    public void A_builder_gives_the_same_records_for_a_seed_and_others_for_another()
    {
        foreach (var (name, build) in AllBuilders)
        {
            string Text(TaskSet t) => string.Join("\n", t.Train.Concat(t.Prompts).Concat(t.Eval).Select(r => r.ToJsonString()));
            Assert.Equal(Text(build(Data, Sizes, 7)), Text(build(Data, Sizes, 7)));
            Assert.NotEqual(Text(build(Data, Sizes, 7)), Text(build(Data, Sizes, 8)));
        }
    }

    [Fact]
    public void Unknown_tasks_and_missing_corpora_are_named()
    {
        var error = Assert.Throws<LwfInputException>(() => TaskPair.Write(TestPaths.NewTempDir(), Data, "poetry", "fortunes", JobFiles.TinyModel, Sizes, 1));
        Assert.Contains("no learning task 'poetry' (known: sentiment, stated-capitals, stated-endings, arithmetic, genre)", error.Message);
        string empty = TestPaths.NewTempDir();
        error = Assert.Throws<LwfInputException>(() => TaskBuilders.Sentiment(empty, Sizes, 1));
        Assert.Contains("run `lwf data fetch", error.Message);
    }

    [GeneratedRegex(@"\d+")]
    private static partial Regex NumberPattern();
}
