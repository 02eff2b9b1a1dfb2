using Npgsql;

namespace Qubrid.Bench;

/// <summary>One statement's share of PostgreSQL's time during a window (from pg_stat_statements).</summary>
public sealed record PgStatement(string Query, long Calls, double TotalMs, double MeanMs);

/// <summary>
/// Where PostgreSQL spends its time: pg_stat_statements (loaded by scripts/bench.sh) for statement execution
/// and lock waits, pg_stat_wal for the WAL flushes at commit, which no statement's time includes.
/// Statements are silently empty when the extension is not loaded.
/// </summary>
public static class PgProfile
{
    private static bool? _available;

    private static async Task<bool> AvailableAsync()
    {
        if (_available is { } known) return known;
        try
        {
            await using var db = NpgsqlDataSource.Create(Databases.Server);
            await using var cmd = db.CreateCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT count(*) FROM pg_stat_statements");
            await cmd.ExecuteScalarAsync();
            _available = true;
        }
        catch (PostgresException)
        {
            _available = false;
        }
        return _available.Value;
    }

    /// <summary>
    /// WAL flushes (fsyncs), their total time, the WAL bytes written and the full-page images among them since the
    /// last reset (pg_stat_wal; timing needs track_wal_io_timing). Server-wide: during a window only the benchmark writes.
    /// </summary>
    public static async Task<(long Syncs, double SyncMs, double Bytes, long FullPageImages)> WalSyncsAsync()
    {
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand("SELECT wal_sync, wal_sync_time, wal_bytes::float8, wal_fpi FROM pg_stat_wal");
        await using var reader = await cmd.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetDouble(1), reader.GetDouble(2), reader.GetInt64(3));
    }

    public static async Task ResetWalAsync()
    {
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand("SELECT pg_stat_reset_shared('wal')");
        await cmd.ExecuteNonQueryAsync();
    }

    public static async Task ResetAsync()
    {
        if (!await AvailableAsync()) return;
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand("SELECT pg_stat_statements_reset()");
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>The statements that took most of the server's time since the last reset.</summary>
    public static async Task<List<PgStatement>> TopAsync(int count = 6)
    {
        var top = new List<PgStatement>();
        if (!await AvailableAsync()) return top;
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand(
            """
            SELECT regexp_replace(left(query, 160), '\s+', ' ', 'g'), sum(calls)::bigint, sum(total_exec_time), sum(total_exec_time) / greatest(sum(calls), 1)
            FROM pg_stat_statements
            WHERE query NOT LIKE '%pg_stat_statements%'
            GROUP BY 1
            ORDER BY 3 DESC
            LIMIT $1
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = count });
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) top.Add(new PgStatement(reader.GetString(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetDouble(3)));
        return top;
    }
}
