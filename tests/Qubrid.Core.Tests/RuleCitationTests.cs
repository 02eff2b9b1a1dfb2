using System.Text.RegularExpressions;

namespace Qubrid.Core.Tests;

/// <summary>
/// docs/rules.md is the list of rule ids. Every rule that is not withdrawn has one home in src/ (a comment
/// <c>// R-…:</c>, <c>-- R-…:</c> in SQL) and at least one test that names it (<c>[Trait("Rule", "R-…")]</c>, so that
/// <c>dotnet test --filter "Rule=R-LOT-2"</c> runs them); every id that code or tests cite exists.
/// </summary>
public partial class RuleCitationTests
{
    /// <summary>
    /// Rules no test pins down yet. Each is a known gap, listed so that it stays visible: a rule that gets its test must
    /// leave this list (the test below fails otherwise), and no other rule may lose its tests.
    /// </summary>
    private static readonly HashSet<string> Untested =
    [
        "R-EVENT-1", // ids follow commit order and an event is written with its cause: needs concurrent event-writing transactions against PostgreSQL
        "R-EVENT-3", // which kinds the orchestrator's stream leaves out: no stream test asserts an absent kind yet
    ];

    private static readonly string[] SourceExtensions = [".cs", ".sql", ".js"];

    [Fact]
    public void Every_rule_that_is_not_withdrawn_is_named_by_a_test()
    {
        var tested = TestTraits().Select(t => t.Id).ToHashSet();
        var missing = Rules().Where(r => !r.Withdrawn && !tested.Contains(r.Id) && !Untested.Contains(r.Id)).Select(r => r.Id).ToList();
        Assert.True(missing.Count == 0, "rules without a [Trait(\"Rule\", …)] test: " + string.Join(", ", missing));
        var nowTested = Untested.Where(tested.Contains).ToList();
        Assert.True(nowTested.Count == 0, "tested now, take them off the Untested list: " + string.Join(", ", nowTested));
    }

    [Fact]
    public void Every_rule_that_is_not_withdrawn_has_one_home_in_the_sources()
    {
        var homes = RepositoryFiles.Sources("src", SourceExtensions)
            .SelectMany(f => File.ReadLines(f).SelectMany((line, i) => Home().Matches(line).Select(m => (Id: m.Groups[1].Value, At: $"{RepositoryFiles.Relative(f)}:{i + 1}"))))
            .ToLookup(h => h.Id, h => h.At);
        var problems = Rules().Where(r => !r.Withdrawn && homes[r.Id].Count() != 1)
            .Select(r => $"{r.Id}: {homes[r.Id].Count()} homes {string.Join(" ", homes[r.Id])}").ToList();
        Assert.True(problems.Count == 0, "each rule is marked \"// R-…:\" in exactly one place:\n" + string.Join('\n', problems));
    }

    [Fact]
    public void Every_rule_id_cited_in_code_or_tests_exists_in_the_rules()
    {
        var known = Rules().Select(r => r.Id).ToHashSet();
        var unknown = RepositoryFiles.Sources("src", SourceExtensions).Concat(RepositoryFiles.Sources("tests", ".cs"))
            .SelectMany(f => File.ReadLines(f).SelectMany((line, i) => Cited().Matches(line).Select(m => (Id: m.Value, At: $"{RepositoryFiles.Relative(f)}:{i + 1}"))))
            .Where(c => !known.Contains(c.Id))
            .Select(c => $"{c.At}: {c.Id}").ToList();
        Assert.True(unknown.Count == 0, "ids not in docs/rules.md:\n" + string.Join('\n', unknown));
    }

    [Fact]
    public void Code_and_tests_cite_the_rules_not_SPEC_md()
    {
        var citations = RepositoryFiles.Sources("src", ".cs").Concat(RepositoryFiles.Sources("tests", ".cs"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (At: $"{RepositoryFiles.Relative(f)}:{i + 1}", Line: line)))
            .Where(l => l.Line.Contains("SPEC" + ".md", StringComparison.Ordinal)).Select(l => l.At).ToList();
        Assert.True(citations.Count == 0, "cite docs/rules.md ids instead: " + string.Join(", ", citations));
    }

    [Fact]
    public void Rule_ids_are_unique_and_withdrawn_rules_keep_their_number()
    {
        var rules = Rules();
        Assert.True(rules.Count >= 63, $"docs/rules.md lists {rules.Count} rules; ids are never removed");
        Assert.Equal(rules.Count, rules.Select(r => r.Id).Distinct().Count());
    }

    private sealed record Rule(string Id, bool Withdrawn);

    private static List<Rule> Rules()
    {
        var text = RepositoryFiles.Read("docs/rules.md");
        var starts = Anchor().Matches(text).ToList();
        return starts.Select((m, i) =>
        {
            var end = i + 1 < starts.Count ? starts[i + 1].Index : text.Length;
            var entry = text[m.Index..end];
            return new Rule(m.Groups[1].Value, entry.Contains("*withdrawn*", StringComparison.OrdinalIgnoreCase));
        }).ToList();
    }

    private static IEnumerable<(string Id, string At)> TestTraits() =>
        RepositoryFiles.Sources("tests", ".cs")
            .SelectMany(f => File.ReadLines(f).SelectMany((line, i) => Trait().Matches(line).Select(m => (m.Groups[1].Value, $"{RepositoryFiles.Relative(f)}:{i + 1}"))));

    [GeneratedRegex(@"<a id=""(R-[A-Z]+-\d+)""></a>")]
    private static partial Regex Anchor();

    [GeneratedRegex(@"\[Trait\(""Rule"",\s*""(R-[A-Z]+-\d+)""\)\]")]
    private static partial Regex Trait();

    // A home: "// R-LOT-2: …" or "-- R-LEDGER-1: …"; a citation elsewhere has no colon after the id.
    [GeneratedRegex(@"(?:^|\s)(?://|--)\s*(R-[A-Z]+-\d+):")]
    private static partial Regex Home();

    [GeneratedRegex(@"(?<![\w-])R-[A-Z]+-\d+(?![\w-])")]
    private static partial Regex Cited();
}
