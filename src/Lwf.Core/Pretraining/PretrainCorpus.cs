using Lwf.Core.Tasks;

namespace Lwf.Core.Pretraining;

/// <summary>
/// The pretraining text. General domains give the model English (Brown, State of the Union addresses); knowledge
/// domains are what the forgetting tasks test, each named after its forgetting task, every document of them in
/// the mix. No learning task's records are here: their evaluation must measure what fine-tuning taught.
/// </summary>
public static class PretrainCorpus
{
    /// <summary>Bumped when the text below changes, so cached base models are rebuilt.</summary>
    public const int Version = 4;

    public static readonly string[] Sources = ["brown", "countries", "sotu", "fortunes"];

    public static Dictionary<string, List<string>> General(string dataDirectory) => new()
    {
        // The held-out Brown documents stay out: they are every job's held-out perplexity text.
        ["brown"] = BrownCorpus.Documents(dataDirectory).Where(d => !d.HeldOut).Select(d => string.Join(' ', d.Sentences)).ToList(),
        ["sotu"] = Paragraphs(TaskBuilders.StateOfTheUnionAddresses(dataDirectory)),
    };

    /// <summary>Forgetting task name → the documents that hold its knowledge (all of them trained on).</summary>
    public static Dictionary<string, List<string>> Knowledge(string dataDirectory) => new()
    {
        ["capitals"] = TaskBuilders.CapitalFacts(dataDirectory),
        ["fortunes"] = TaskBuilders.ShortFortunes(dataDirectory),
    };

    /// <summary>Long addresses cut into paragraphs of about 120 words (more documents to hold out and shuffle).</summary>
    private static List<string> Paragraphs(IEnumerable<string> texts) =>
        texts.SelectMany(t => t.Split(' ', StringSplitOptions.RemoveEmptyEntries).Chunk(120).Select(words => string.Join(' ', words))).ToList();
}
