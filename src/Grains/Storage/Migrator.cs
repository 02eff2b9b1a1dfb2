using System.Reflection;
using Npgsql;

namespace Qubrid.Storage;

/// <summary>
/// Applies the embedded SQL migrations in order, each once, under an advisory lock so that several
/// silos starting together migrate one at a time. Safe to run on every start.
/// </summary>
public static class Migrator
{
    private const long AdvisoryLockId = 0x5155_4252_4944; // "QUBRID"

    public static IReadOnlyList<(int Version, string Name, string Sql)> Scripts { get; } = LoadScripts();

    public static Task<IReadOnlyList<string>> ApplyAsync(NpgsqlDataSource dataSource, CancellationToken ct = default) =>
        ApplyAsync(dataSource, int.MaxValue, ct);

    /// <summary>Applies the migrations up to <paramref name="upToVersion"/> (included): a test builds a database as a previous release left it.</summary>
    public static async Task<IReadOnlyList<string>> ApplyAsync(NpgsqlDataSource dataSource, int upToVersion, CancellationToken ct = default)
    {
        var applied = new List<string>();
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_lock(@id)", conn))
        {
            lockCmd.Parameters.AddWithValue("id", AdvisoryLockId);
            await lockCmd.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using (var create = new NpgsqlCommand(
                "CREATE TABLE IF NOT EXISTS qubrid_schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())", conn))
            {
                await create.ExecuteNonQueryAsync(ct);
            }
            var done = new HashSet<int>();
            await using (var read = new NpgsqlCommand("SELECT version FROM qubrid_schema_migrations", conn))
            await using (var reader = await read.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct)) done.Add(reader.GetInt32(0));
            }
            foreach (var (version, name, sql) in Scripts)
            {
                if (done.Contains(version) || version > upToVersion) continue;
                await using var tx = await conn.BeginTransactionAsync(ct);
                await using (var run = new NpgsqlCommand(sql, conn, tx)) await run.ExecuteNonQueryAsync(ct);
                await using (var mark = new NpgsqlCommand("INSERT INTO qubrid_schema_migrations (version, name) VALUES (@v, @n)", conn, tx))
                {
                    mark.Parameters.AddWithValue("v", version);
                    mark.Parameters.AddWithValue("n", name);
                    await mark.ExecuteNonQueryAsync(ct);
                }
                await tx.CommitAsync(ct);
                applied.Add(name);
            }
        }
        finally
        {
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@id)", conn);
            unlock.Parameters.AddWithValue("id", AdvisoryLockId);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
        return applied;
    }

    private static List<(int, string, string)> LoadScripts()
    {
        var assembly = typeof(Migrator).Assembly;
        const string prefix = "Qubrid.Migrations.";
        var scripts = new List<(int, string, string)>();
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var name = resource[prefix.Length..];
            var version = int.Parse(name.AsSpan(0, name.IndexOf('_')), System.Globalization.CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            scripts.Add((version, name, reader.ReadToEnd()));
        }
        return scripts;
    }
}
