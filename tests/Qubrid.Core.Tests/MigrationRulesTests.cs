using Qubrid.Contracts;

namespace Qubrid.Core.Tests;

/// <summary>
/// Expand/contract (docs/design.md#versioned-contracts): the migrations the previous release does not have
/// (docs/contracts/previous-release-migrations.txt lists the ones it has) must leave its reads and writes working.
/// </summary>
public sealed class MigrationRulesTests
{
    private const string Folder = "src/Grains/Storage/Migrations";

    [Fact]
    public void Migrations_newer_than_the_previous_release_only_expand_the_schema()
    {
        var previous = RepositoryFiles.Read("docs/contracts/previous-release-migrations.txt")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("0001_orleans.sql", previous);
        var breaks = RepositoryFiles.Sources(Folder, ".sql")
            .Where(f => !previous.Contains(Path.GetFileName(f)))
            .SelectMany(f => MigrationRules.Breaks(RepositoryFiles.Relative(f), File.ReadAllText(f)))
            .ToList();
        Assert.True(breaks.Count == 0, "Migrations that break the previous release (a contract step comes one release later, marked "
            + $"'{MigrationRules.ContractStepMarker}'):\n  " + string.Join("\n  ", breaks));
    }

    [Theory]
    [InlineData("DROP TABLE qubrid_holds")]
    [InlineData("ALTER TABLE qubrid_ledger DROP COLUMN reference")]
    [InlineData("ALTER TABLE qubrid_ledger DROP reference")]
    [InlineData("ALTER TABLE qubrid_ledger ALTER COLUMN kind DROP DEFAULT")]
    [InlineData("DROP FUNCTION qubrid_expect_rows(int, int)")]
    [InlineData("ALTER TABLE qubrid_ledger RENAME COLUMN reference TO ref")]
    [InlineData("ALTER TABLE qubrid_ledger RENAME TO qubrid_entries")]
    [InlineData("ALTER TABLE qubrid_ledger ALTER COLUMN amount TYPE numeric(20, 6)")]
    [InlineData("ALTER TABLE qubrid_ledger ALTER COLUMN amount SET DATA TYPE bigint")]
    [InlineData("ALTER TABLE qubrid_ledger ALTER COLUMN session_id SET NOT NULL")]
    [InlineData("ALTER TABLE qubrid_ledger ADD COLUMN region text NOT NULL")]
    [InlineData("alter table qubrid_ledger\n  add column if not exists region text not null")]
    public void A_migration_that_drops_renames_retypes_or_tightens_is_refused(string sql)
    {
        var breaks = MigrationRules.Breaks("9999_test.sql", $"-- a test migration\n{sql};\nCREATE INDEX IF NOT EXISTS x ON t (a);\n");
        Assert.Single(breaks);
        Assert.StartsWith("9999_test.sql: '", breaks[0]);
    }

    [Theory]
    [InlineData("CREATE TABLE IF NOT EXISTS qubrid_regions (id text PRIMARY KEY, name text NOT NULL)")]
    [InlineData("ALTER TABLE qubrid_ledger ADD COLUMN IF NOT EXISTS region text")]
    [InlineData("ALTER TABLE qubrid_ledger ADD COLUMN region text NOT NULL DEFAULT 'eu'")]
    [InlineData("ALTER TABLE qubrid_ledger ADD COLUMN region text DEFAULT 'eu' NOT NULL")]
    [InlineData("ALTER TABLE qubrid_ledger ADD COLUMN shard int GENERATED ALWAYS AS (1) STORED NOT NULL")]
    [InlineData("ALTER TABLE qubrid_ledger ADD CONSTRAINT has_kind CHECK (kind IS NOT NULL) NOT VALID")]
    [InlineData("ALTER TABLE qubrid_events DROP CONSTRAINT IF EXISTS qubrid_events_kind_check")]
    [InlineData("ALTER TABLE qubrid_ledger ALTER COLUMN session_id DROP NOT NULL")]
    [InlineData("DROP INDEX IF EXISTS qubrid_lots_open")]
    [InlineData("CREATE OR REPLACE FUNCTION qubrid_f() RETURNS int LANGUAGE sql AS 'SELECT 1'")]
    public void A_migration_that_only_expands_or_loosens_passes(string sql) =>
        Assert.Empty(MigrationRules.Breaks("9999_test.sql", sql + ";"));

    [Fact]
    public void The_contract_step_one_release_later_says_so_and_is_not_refused()
    {
        const string sql = "-- contract step: qubrid_ledger.reference is unused since release 0123abc\nALTER TABLE qubrid_ledger DROP COLUMN reference;";
        Assert.Empty(MigrationRules.Breaks("9999_contract.sql", sql));
        Assert.Single(MigrationRules.Breaks("9999_contract.sql", sql.Replace(MigrationRules.ContractStepMarker, "-- step:")));
    }

    [Fact]
    public void A_forbidden_word_in_a_comment_is_not_a_statement()
    {
        Assert.Empty(MigrationRules.Breaks("9999_test.sql", "-- we never DROP TABLE or RENAME here\n/* SET NOT NULL later */\nCREATE INDEX i ON t (a);"));
    }
}
