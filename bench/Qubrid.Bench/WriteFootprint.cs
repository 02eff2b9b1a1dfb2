using Npgsql;

namespace Qubrid.Bench;

/// <summary>
/// What a workload wrote and read per table and index (pg_stat_user_tables, pg_stat_user_indexes), between two
/// snapshots of one database: rows inserted, updates (heap-only or not), and scans per index. Printed after the
/// system runs (issue 28: rows and index entries written per debit, and which indexes the reads use).
/// Index entries written = rows inserted + non-heap-only updates, for each index of the table.
/// </summary>
public sealed class WriteFootprint
{
    private readonly Dictionary<string, (long Ins, long Upd, long Hot)> _tables = [];
    private readonly Dictionary<string, (string Table, long Scans)> _indexes = [];

    public static async Task<WriteFootprint> TakeAsync(string cs)
    {
        var snap = new WriteFootprint();
        await using var db = NpgsqlDataSource.Create(cs);
        // The statistics are sent by backends at transaction end and at most every 500 ms (PostgreSQL 15); flush this one's view.
        await using (var clear = db.CreateCommand("SELECT pg_stat_clear_snapshot()")) await clear.ExecuteNonQueryAsync();
        await using (var cmd = db.CreateCommand("SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname LIKE 'qubrid%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) snap._tables[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        }
        await using (var cmd = db.CreateCommand("SELECT indexrelname, relname, idx_scan FROM pg_stat_user_indexes WHERE relname LIKE 'qubrid%'"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) snap._indexes[reader.GetString(0)] = (reader.GetString(1), reader.GetInt64(2));
        }
        return snap;
    }

    /// <summary>Prints, per debit, the rows and index entries each table got since <paramref name="before"/>, and each index's scans.</summary>
    public void PrintSince(WriteFootprint before, long debits, string label)
    {
        if (debits <= 0) return;
        Console.WriteLine($"  write footprint, {label}, over {debits:N0} debits (rows and index entries per debit; index scans in the window):");
        double rows = 0, entries = 0;
        foreach (var (table, now) in _tables.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var was = before._tables.GetValueOrDefault(table);
            long ins = now.Ins - was.Ins, upd = now.Upd - was.Upd, hot = now.Hot - was.Hot;
            int indexes = _indexes.Count(i => i.Value.Table == table);
            double perDebitRows = (double)ins / debits, perDebitEntries = (double)(ins + upd - hot) * indexes / debits;
            if (ins == 0 && upd == 0) continue;
            rows += perDebitRows;
            entries += perDebitEntries;
            Console.WriteLine($"    {table,-28} inserted {perDebitRows,6:0.000}  updated {(double)upd / debits,6:0.000} (HOT {(double)hot / debits,6:0.000})  index entries {perDebitEntries,6:0.000} ({indexes} indexes)");
        }
        Console.WriteLine($"    total: {rows:0.000} rows inserted and {entries:0.000} index entries written per debit");
        foreach (var (index, now) in _indexes.OrderBy(i => i.Value.Table, StringComparer.Ordinal).ThenBy(i => i.Key, StringComparer.Ordinal))
        {
            long scans = now.Scans - before._indexes.GetValueOrDefault(index).Scans;
            Console.WriteLine($"    index {index,-40} scans {scans,10:N0}");
        }
    }
}
