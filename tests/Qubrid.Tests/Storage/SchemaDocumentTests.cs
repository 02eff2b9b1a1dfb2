using System.Text;
using Npgsql;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>docs/schema.sql is the schema written out once: applied to an empty database it must give what the migrations give.</summary>
public class SchemaDocumentTests
{
    /// <summary>The migrator's own bookkeeping, which the document leaves out.</summary>
    private const string MigrationsTable = "qubrid_schema_migrations";

    /// <summary>
    /// What the comparison covers, one query per kind of object. Each row is (the object's name, its definition as
    /// PostgreSQL prints it); $1 is the migrations table, whose rows are left out.
    /// </summary>
    private static readonly (string Kind, string Sql)[] CatalogQueries =
    [
        ("table", """
            SELECT table_name, table_type FROM information_schema.tables
            WHERE table_schema = 'public' AND table_name <> $1
            """),
        ("column", """
            SELECT table_name || '.' || column_name,
                   concat_ws(' | ', '#' || ordinal_position, data_type, 'udt ' || udt_name, 'length ' || character_maximum_length,
                             'precision ' || numeric_precision, 'scale ' || numeric_scale, 'time precision ' || datetime_precision,
                             CASE is_nullable WHEN 'YES' THEN 'null' ELSE 'not null' END, 'default ' || column_default,
                             'identity ' || NULLIF(is_identity, 'NO'), 'generated ' || NULLIF(is_generated, 'NEVER'))
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name <> $1
            """),
        ("constraint", """
            SELECT conrelid::regclass::text || '.' || conname, contype::text || ': ' || pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> $1
            """),
        ("index", """
            SELECT tablename || '.' || indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename <> $1
            """),
        ("function", """
            SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid)
            FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
            """),
        ("trigger", """
            SELECT tgrelid::regclass::text || '.' || tgname, pg_get_triggerdef(oid) || CASE tgenabled WHEN 'O' THEN '' ELSE ' (enabled: ' || tgenabled::text || ')' END
            FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text <> $1
            """),
        ("sequence", """
            SELECT s.sequence_name,
                   concat_ws(' | ', s.data_type, 'start ' || s.start_value, 'min ' || s.minimum_value, 'max ' || s.maximum_value,
                             'increment ' || s.increment, 'cycle ' || s.cycle_option,
                             'owned by ' || (SELECT t.relname || '.' || a.attname FROM pg_depend d
                                             JOIN pg_class t ON t.oid = d.refobjid
                                             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                             WHERE d.objid = (quote_ident(s.sequence_name))::regclass AND d.deptype IN ('a', 'i')))
            FROM information_schema.sequences s WHERE s.sequence_schema = 'public'
            """),
        ("view", "SELECT viewname, definition FROM pg_views WHERE schemaname = 'public' AND viewname <> $1"),
        ("type", "SELECT typname, typtype::text || ': ' || format_type(oid, NULL) FROM pg_type WHERE typnamespace = 'public'::regnamespace AND typtype IN ('e', 'd')"),
        // Data, but Orleans cannot run without it: the only queries it issues.
        ("Orleans query", "SELECT querykey, querytext FROM orleansquery"),
    ];

    [Fact]
    public async Task Schema_document_builds_the_same_database_as_the_migrations()
    {
        var migrated = await TestDatabase.CreateAsync("schema_migrated");
        var documented = await TestDatabase.CreateAsync("schema_document", migrate: false);
        var document = await File.ReadAllTextAsync(Path.Combine(BrowserHost.RepositoryRoot(), "docs", "schema.sql"));
        await using (var db = NpgsqlDataSource.Create(documented))
        await using (var conn = await db.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await using (var apply = new NpgsqlCommand(document, conn, tx)) await apply.ExecuteNonQueryAsync();
            await tx.CommitAsync();
        }

        var expected = await ReadCatalogAsync(migrated);
        var actual = await ReadCatalogAsync(documented);

        Assert.Contains("table qubrid_wallets", expected.Keys); // the queries do see the schema
        Assert.Contains("trigger qubrid_ledger.qubrid_ledger_append_only", expected.Keys);
        Assert.DoesNotContain(expected.Keys, k => k.Contains(MigrationsTable, StringComparison.Ordinal));
        var diff = Diff(expected, actual);
        Assert.True(diff.Length == 0, $"docs/schema.sql does not build what the migrations build:\n{diff}");
    }

    private static async Task<SortedDictionary<string, string>> ReadCatalogAsync(string connectionString)
    {
        var catalog = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using var db = NpgsqlDataSource.Create(connectionString);
        foreach (var (kind, sql) in CatalogQueries)
        {
            await using var cmd = db.CreateCommand(sql);
            if (sql.Contains("$1", StringComparison.Ordinal)) cmd.Parameters.Add(new NpgsqlParameter { Value = MigrationsTable });
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var name = $"{kind} {reader.GetString(0)}";
                Assert.True(catalog.TryAdd(name, reader.IsDBNull(1) ? "" : reader.GetString(1)), $"Two catalog rows for {name}.");
            }
        }
        return catalog;
    }

    /// <summary>One paragraph per object that differs: missing from the document, only in the document, or defined otherwise.</summary>
    private static string Diff(SortedDictionary<string, string> migrations, SortedDictionary<string, string> document)
    {
        var report = new StringBuilder();
        foreach (var (name, definition) in migrations)
        {
            if (!document.TryGetValue(name, out var other))
                report.Append("- missing from docs/schema.sql: ").Append(name).Append('\n').Append(Indent(definition));
            else if (other != definition)
                report.Append("~ differs: ").Append(name).Append('\n').Append("  migrations:\n").Append(Indent(definition))
                    .Append("  docs/schema.sql:\n").Append(Indent(other));
        }
        foreach (var (name, definition) in document)
        {
            if (!migrations.ContainsKey(name))
                report.Append("+ only in docs/schema.sql: ").Append(name).Append('\n').Append(Indent(definition));
        }
        return report.ToString();
    }

    private static string Indent(string text) =>
        string.Concat(text.TrimEnd().Split('\n').Select(line => $"    {line}\n"));
}
