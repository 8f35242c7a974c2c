using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Lwf.Core.Corpora;
using Lwf.Core.Training;

namespace Lwf.Core.Tasks;

/// <summary>
/// The learning and forgetting tasks, built from the fetched corpora (`lwf data fetch`) in the spirit of the
/// paper's pairs: learn one domain while forgetting another. Every builder is deterministic in its seed.
/// </summary>
public static partial class TaskBuilders
{
    public delegate TaskSet Builder(string dataDirectory, TaskSizes sizes, long seed);

    public static readonly IReadOnlyDictionary<string, Builder> Learning = new Dictionary<string, Builder>
    {
        ["sentiment"] = Sentiment,
        ["stated-capitals"] = StatedCapitals,
        ["stated-endings"] = StatedEndings,
        ["arithmetic"] = Arithmetic,
        ["genre"] = Genre,
    };

    public static readonly IReadOnlyDictionary<string, Builder> Forgetting = new Dictionary<string, Builder>
    {
        ["capitals"] = Capitals,
        ["fortunes"] = Fortunes,
        ["sotu"] = StateOfTheUnion,
        ["mixed"] = Mixed,
    };

    public static Builder Get(IReadOnlyDictionary<string, Builder> builders, string name, string kind) =>
        builders.TryGetValue(name, out var b) ? b : throw new LwfInputException($"no {kind} task '{name}' (known: {string.Join(", ", builders.Keys)})");

    /// <summary>Review sentences → positive / negative (wink-naive-bayes-text-classifier's labelled set).</summary>
    public static TaskSet Sentiment(string dataDirectory, TaskSizes sizes, long seed)
    {
        var (train, eval) = TaskSplits.Split(Reviews(dataDirectory), r => r.Text, sizes.Train, sizes.Eval, seed);
        static string Prompt(string text) => $"Review: {text}\nSentiment:";
        static string Label(bool positive) => positive ? " positive" : " negative";
        return new TaskSet("sentiment", "review sentences labelled positive or negative",
            train.Select(r => TaskSplits.PromptResponse(Prompt(r.Text), Label(r.Positive))).ToList(), [],
            eval.Select(r => new JsonObject
            {
                ["prompt"] = Prompt(r.Text),
                ["choices"] = new JsonArray(" negative", " positive"),
                ["answer"] = r.Positive ? 1 : 0,
            }).ToList());
    }

    /// <summary>
    /// Forgetting task: the capital of each country, knowledge the base model learnt in pretraining (the country
    /// facts). The base model completes "The capital of X is" in self-generation; evaluated as four-way multiple
    /// choice among other countries' capitals, on countries none of the prompts name.
    /// </summary>
    public static TaskSet Capitals(string dataDirectory, TaskSizes sizes, long seed)
    {
        var countries = CountryCapitals(dataDirectory);
        var (prompts, eval) = TaskSplits.Split(countries, c => c.Country, sizes.ForgetPrompts, sizes.Eval, seed);
        var capitals = countries.Select(c => c.Capital).ToList();
        var random = new Random(Seeds.ForRandom(seed, 23));
        return new TaskSet("capitals", "the capital of each country, as the base model learnt it", [],
            prompts.Select(c => new JsonObject { ["prompt"] = CapitalPrompt(c.Country) }).ToList(),
            eval.Select(c => TaskSplits.MultipleChoice(CapitalPrompt(c.Country), " " + c.Capital,
                TaskSplits.Others(capitals, c.Capital, 3, random).Select(o => " " + o), random)).ToList());
    }

    /// <summary>
    /// Several forgetting tasks at once (the paper's mixed setting): capitals and fortunes, half of the prompts and half
    /// of the evaluation items from each, so the forgetting metric is their pooled multiple-choice accuracy.
    /// </summary>
    public static TaskSet Mixed(string dataDirectory, TaskSizes sizes, long seed)
    {
        var half = sizes with { Prompts = (sizes.ForgetPrompts + 1) / 2, Eval = (sizes.Eval + 1) / 2 };
        TaskSet[] parts = [Capitals(dataDirectory, half, seed), Fortunes(dataDirectory, half, seed)];
        return new TaskSet("mixed", "capitals and fortunes at once (the paper's mixed setting)", [],
            parts.SelectMany(p => p.Prompts).ToList(), parts.SelectMany(p => p.Eval).ToList());
    }

    /// <summary>The sentence of the country facts that states a capital, cut before the capital.</summary>
    public static string CapitalPrompt(string country) => $"The capital of {country} is";

    /// <summary>
    /// Learning task that competes with what the base model knows: a passage states a capital that is not the
    /// country's own (another country's), and the question asks for the capital the passage states. Evaluated as
    /// four-way multiple choice with the country's real capital among the wrong choices, so the model's own
    /// knowledge of capitals is exactly what it has to set aside; train and eval name different countries.
    /// </summary>
    public static TaskSet StatedCapitals(string dataDirectory, TaskSizes sizes, long seed)
    {
        var countries = CountryCapitals(dataDirectory);
        var (train, eval) = TaskSplits.Split(countries, c => c.Country, sizes.Train, sizes.Eval, seed);
        var capitals = countries.Select(c => c.Capital).Distinct().ToList();
        static string Prompt((string Country, string Capital) c, string stated) =>
            $"Passage: In this story, the capital of {c.Country} is {stated}.\nQ: In the story, what is the capital of {c.Country}?\nA:";
        var (trainRecords, evalRecords) = StatedRecords(train, eval, c => c.Capital, capitals, Prompt, stated => " " + stated, new Random(Seeds.ForRandom(seed, 29)));
        return new TaskSet("stated-capitals", "the capital a passage states, which is not the country's real one", trainRecords, [], evalRecords);
    }

    /// <summary>
    /// The records of a task whose passage states an answer that is not the item's real one (another item's, drawn
    /// from <paramref name="pool"/>): trained to give the stated answer; evaluated as four-way multiple choice with
    /// the real answer among the wrong ones, so that what the base model knows is what it has to set aside.
    /// <paramref name="statedPerItem"/> training records per item, each stating another answer (fewer when a draw repeats one).
    /// </summary>
    private static (List<JsonObject> Train, List<JsonObject> Eval) StatedRecords<T>(List<T> train, List<T> eval, Func<T, string> real,
        IReadOnlyList<string> pool, Func<T, string, string> prompt, Func<string, string> answer, Random random, int statedPerItem = 1)
    {
        var trainRecords = train.SelectMany(item => TaskSplits.Others(pool, real(item), statedPerItem, random).Distinct()
            .Select(stated => TaskSplits.PromptResponse(prompt(item, stated), answer(stated)))).ToList();
        var evalRecords = eval.Select(item =>
        {
            string stated = TaskSplits.Others(pool, real(item), 1, random).Single();
            var wrong = TaskSplits.Others(pool, stated, 10, random).Where(o => o != real(item)).Distinct().Take(2).Prepend(real(item));
            return TaskSplits.MultipleChoice(prompt(item, stated), answer(stated), wrong.Select(answer), random);
        }).ToList();
        return (trainRecords, evalRecords);
    }

    /// <summary>Every country with one named capital, from world-countries' countries.json.</summary>
    public static List<(string Country, string Capital)> CountryCapitals(string dataDirectory)
    {
        string file = Path.Combine(CorpusFetcher.Require(dataDirectory, "countries"), "package", "countries.json");
        return JsonNode.Parse(File.ReadAllText(file))!.AsArray()
            .Select(c => (Country: c!["name"]!["common"]!.GetValue<string>(), Capitals: c["capital"]!.AsArray().Select(x => x!.GetValue<string>()).ToList()))
            .Where(c => c.Capitals.Count == 1 && c.Capitals[0].Length > 0)
            .Select(c => (c.Country, c.Capitals[0])).ToList();
    }

    /// <summary>"The capital of X is Y." for every country with one named capital: the pretraining text of the capitals knowledge.</summary>
    public static List<string> CapitalFacts(string dataDirectory) =>
        CountryCapitals(dataDirectory).Select(c => $"{CapitalPrompt(c.Country)} {c.Capital}.").ToList();

    /// <summary>Generated word problems (+, −, ×, ÷ with whole answers), each answer computed and checked; exact-match evaluation.</summary>
    public static TaskSet Arithmetic(string dataDirectory, TaskSizes sizes, long seed)
    {
        var random = new Random(Seeds.ForRandom(seed, 31));
        var problems = new Dictionary<string, ArithmeticProblem>();
        for (int tries = 0; problems.Count < 2 * (sizes.Train + sizes.Eval) && tries < 100_000; tries++)
        {
            var problem = ArithmeticProblem.Random(random);
            problems.TryAdd(TaskSplits.Key(problem.Text), problem);
        }
        var (train, eval) = TaskSplits.Split(problems.Values, p => p.Text, sizes.Train, sizes.Eval, seed);
        return new TaskSet("arithmetic", "word problems with checked whole-number answers",
            train.Select(p => TaskSplits.PromptResponse(p.Prompt, " " + p.Answer)).ToList(), [],
            eval.Select(p => TaskSplits.PromptResponse(p.Prompt, " " + p.Answer)).ToList());
    }

    /// <summary>A Brown-corpus sentence → its genre (four-way multiple choice); train and eval sentences come from different documents.</summary>
    public static TaskSet Genre(string dataDirectory, TaskSizes sizes, long seed)
    {
        var documents = BrownCorpus.Documents(dataDirectory).Where(d => !d.HeldOut).ToList();
        var (trainDocs, evalDocs) = TaskSplits.Split(documents, d => d.Id, documents.Count, documents.Count / 5, seed);
        var genres = documents.Select(d => d.Genre).Distinct().Order(StringComparer.Ordinal).ToList();
        var random = new Random(Seeds.ForRandom(seed, 37));
        List<(string Sentence, string Genre)> Sentences(List<BrownDocument> docs, int count) =>
            TaskSplits.Split(docs.SelectMany(d => d.Sentences.Select(s => (Sentence: s, d.Genre))), s => s.Sentence, count, 0, seed).First;
        static string Prompt(string sentence) => $"Text: {sentence}\nGenre:";
        return new TaskSet("genre", "the genre of a Brown-corpus sentence (15 genres)",
            Sentences(trainDocs, sizes.Train).Select(s => TaskSplits.PromptResponse(Prompt(s.Sentence), " " + s.Genre)).ToList(), [],
            Sentences(evalDocs, sizes.Eval).Select(s => TaskSplits.MultipleChoice(Prompt(s.Sentence), " " + s.Genre,
                TaskSplits.Others(genres, s.Genre, 3, random).Select(g => " " + g), random)).ToList());
    }

    /// <summary>Fortune cookies (fortunes-min): the base model completes their openings; evaluated by choosing the true ending among four.</summary>
    public static TaskSet Fortunes(string dataDirectory, TaskSizes sizes, long seed) =>
        Completion("fortunes", "fortune cookies: complete the saying", ShortFortunes(dataDirectory), sizes, seed);

    /// <summary>
    /// Learning task that competes with the fortunes the base model knows by heart: a passage is a fortune's opening
    /// with another fortune's ending, and the answer is the passage's own ending. Evaluated as four-way multiple
    /// choice with the fortune's real ending among the wrong choices; train and eval use different fortunes.
    /// </summary>
    public static TaskSet StatedEndings(string dataDirectory, TaskSizes sizes, long seed)
    {
        var fortunes = ShortFortunes(dataDirectory);
        var (train, eval) = TaskSplits.Split(fortunes, f => f, sizes.Train, sizes.Eval, seed);
        var endings = fortunes.Select(f => Cut(f).Ending).ToList();
        // Tried on this machine (vanilla, 120 steps, seed 1): ending the prompt with the fortune's opening itself
        // ("The passage again: OPENING", so that the passage competes with the memorised completion token by token)
        // was not learnt (0.19 → 0.16), nor was asking for the passage's last word alone (0.21 → 0.23); this question was (0.29 → 0.46).
        static string Prompt(string fortune, string stated) => $"Passage: {Cut(fortune).Opening}{stated}\nQ: How does the passage end?\nA:";
        var (trainRecords, evalRecords) = StatedRecords(train, eval, f => Cut(f).Ending, endings, Prompt, stated => stated, new Random(Seeds.ForRandom(seed, 43)),
            StatedEndingsPerFortune);
        return new TaskSet("stated-endings", "the ending a passage states, which is not the fortune's real one", trainRecords, [], evalRecords);
    }

    /// <summary>
    /// Training records per fortune of stated-endings, each with a different stated ending: with one, the model learnt
    /// its 200 records by heart (train loss 0.05) and generalised little, since an opening always led to the same
    /// ending; with three, only copying the passage's ending fits them all. Measured on the 2-core machine (vanilla,
    /// 200 steps, seeds 1–3, one run): +0.22 over the base with one, +0.29 with three (seeds 4–5: +0.37).
    /// </summary>
    public const int StatedEndingsPerFortune = 3;

    /// <summary>
    /// The forgetting task's pool, all of it in the base model's pretraining: 300 fortunes of 40–140 characters, the
    /// same 300 whatever the job's seed (a seed only splits them into prompts and evaluation).
    /// </summary>
    public static List<string> ShortFortunes(string dataDirectory)
    {
        var pool = FortuneTexts(dataDirectory).Where(f => f.Length is >= 40 and <= 140).Distinct().Order(StringComparer.Ordinal).ToArray();
        new Random(FortunePoolSeed).Shuffle(pool);
        return pool.Take(FortunePoolSize).ToList();
    }

    private const int FortunePoolSize = 300, FortunePoolSeed = 2505;

    /// <summary>Every fortune of fortunes-min's three files, on one line each.</summary>
    public static List<string> FortuneTexts(string dataDirectory)
    {
        string dir = Path.Combine(CorpusFetcher.Require(dataDirectory, "fortunes"), "usr", "share", "games", "fortunes");
        return new[] { "fortunes", "literature", "riddles" }
            .SelectMany(f => File.ReadAllText(Path.Combine(dir, f)).Split("\n%\n"))
            .Select(f => Whitespace().Replace(f, " ").Trim())
            .Where(f => f.Length > 0).ToList();
    }

    /// <summary>The addresses' texts, 1790–2021, in file order.</summary>
    public static List<string> StateOfTheUnionAddresses(string dataDirectory) =>
        Directory.EnumerateFiles(Path.Combine(CorpusFetcher.Require(dataDirectory, "sotu"), "package", "data"), "*.json").Order(StringComparer.Ordinal)
            .Select(f => Whitespace().Replace(JsonNode.Parse(File.ReadAllText(f))!["text"]!.GetValue<string>(), " ").Trim()).ToList();

    /// <summary>The review sentences with their labels (true: positive).</summary>
    public static List<(string Text, bool Positive)> Reviews(string dataDirectory)
    {
        string file = Path.Combine(CorpusFetcher.Require(dataDirectory, "sentiment"), "package", "sentiment-analysis-example", "shuffled-sentiment-training-data.json");
        return JsonNode.Parse(File.ReadAllText(file))!.AsArray()
            .Select(r => (Text: r![0]!.GetValue<string>().Trim(), Positive: r[1]!.GetValue<string>() == "1"))
            .Where(r => r.Text.Length > 0).ToList();
    }

    /// <summary>Sentences of the State of the Union addresses 1790–2021: complete them; evaluated by choosing the true ending among four.</summary>
    public static TaskSet StateOfTheUnion(string dataDirectory, TaskSizes sizes, long seed)
    {
        var sentences = StateOfTheUnionAddresses(dataDirectory)
            .SelectMany(text => SentenceEnd().Split(text))
            .Select(s => s.Trim())
            .Where(s => s.Split(' ').Length is >= 10 and <= 40).ToList();
        return Completion("sotu", "State of the Union sentences: complete them", sentences, sizes, seed);
    }

    /// <summary>Passages cut in two: prompts are openings; eval asks for the true ending among the endings of other passages.</summary>
    private static TaskSet Completion(string name, string description, IReadOnlyList<string> passages, TaskSizes sizes, long seed)
    {
        var (prompts, eval) = TaskSplits.Split(passages, p => p, sizes.ForgetPrompts, sizes.Eval, seed);
        var random = new Random(Seeds.ForRandom(seed, 41));
        var evalEndings = eval.Select(p => Cut(p).Ending).ToList();
        return new TaskSet(name, description, [],
            prompts.Select(p => new JsonObject { ["prompt"] = Cut(p).Opening }).ToList(),
            eval.Select(p =>
            {
                var (opening, ending) = Cut(p);
                return TaskSplits.MultipleChoice(opening, ending, TaskSplits.Others(evalEndings, ending, 3, random), random);
            }).ToList());
    }

    /// <summary>The first half of the words (at least 4), and the rest with its leading space.</summary>
    public static (string Opening, string Ending) Cut(string passage)
    {
        var words = passage.Split(' ');
        int half = Math.Clamp(words.Length / 2, Math.Min(4, words.Length - 1), words.Length - 1);
        return (string.Join(' ', words[..half]), " " + string.Join(' ', words[half..]));
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"(?<=[.!?])\s+(?=[A-Z])")]
    private static partial Regex SentenceEnd();
}
