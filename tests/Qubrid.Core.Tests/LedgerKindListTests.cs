using System.Text.RegularExpressions;

namespace Qubrid.Core.Tests;

/// <summary>
/// Lists of ledger kinds have one definition, in C#; SQL takes them as <c>kind = ANY($n)</c> parameters. The table's CHECK
/// needs its literal list in the migration, so it is compared with the C# definition here.
/// </summary>
public partial class LedgerKindListTests
{
    [Fact]
    [Trait("Rule", "R-LEDGER-1")]
    public void The_ledger_kind_check_of_the_latest_migration_lists_exactly_the_kinds_the_code_defines()
    {
        var migration = RepositoryFiles.Sources("src/Grains/Storage/Migrations", ".sql")
            .Last(f => File.ReadAllText(f).Contains("qubrid_ledger_kind_check", StringComparison.Ordinal));
        var check = KindCheck().Match(File.ReadAllText(migration));
        Assert.True(check.Success, $"{RepositoryFiles.Relative(migration)} has no qubrid_ledger_kind_check list");
        var inSql = Regex.Matches(check.Groups[1].Value, "'([a-z_]+)'").Select(m => m.Groups[1].Value).Order();
        Assert.Equal(Enum.GetValues<LedgerEntryKind>().Select(k => k.ToWire()).Order(), inSql);
    }

    [Fact]
    [Trait("Rule", "R-LIMIT-1")]
    [Trait("Rule", "R-USAGE-1")]
    public void The_kind_lists_sql_takes_as_parameters_are_the_code_definitions()
    {
        Assert.Equal(["session_charge", "inference_charge", "premium_access", "hold_capture"], SpendPeriods.SpendingKindsWire);
        Assert.All(Enum.GetValues<LedgerEntryKind>(), k => Assert.Equal(SpendPeriods.SpendingKinds.Contains(k), SpendPeriods.IsSpending(k)));
        Assert.Equal(["session_charge", "inference_charge", "premium_access"], LedgerKinds.UsageKinds.ToWire());
        Assert.Equal(["grant", "topup", "adjustment", "refund"], LedgerKinds.CreditKinds.ToWire());
    }

    [Fact]
    public void No_sql_in_the_sources_spells_out_a_list_of_kinds()
    {
        var literalLists = RepositoryFiles.Sources("src", ".cs")
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: RepositoryFiles.Relative(f), Line: i + 1, Text: line)))
            .Where(l => LiteralKindList().IsMatch(l.Text))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToList();
        Assert.True(literalLists.Count == 0, "pass the C# list as a text[] parameter instead:\n" + string.Join('\n', literalLists));
    }

    [GeneratedRegex(@"qubrid_ledger_kind_check\s+CHECK\s*\(\s*kind\s+IN\s*\(([^)]*)\)", RegexOptions.IgnoreCase)]
    private static partial Regex KindCheck();

    [GeneratedRegex(@"kind\s+(NOT\s+)?IN\s*\(\s*'", RegexOptions.IgnoreCase)]
    private static partial Regex LiteralKindList();
}
