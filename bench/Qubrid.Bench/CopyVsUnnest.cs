using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Bench;

/// <summary>
/// Issue 28 (QUBRID_BENCH_ONLY=copy; prints its figures, writes no report): the ledger insert of a commit as one
/// <c>INSERT ... SELECT FROM unnest($1, ...)</c> in the commit's batch (one round trip, the implicit transaction) against
/// binary COPY, which cannot share an NpgsqlBatch and so needs an explicit transaction (BEGIN + COPY + COMMIT).
/// Rows per transaction 1, 16, 64 and 256; lean entry rows (14 columns); each way alternately, same table, same server.
/// </summary>
public static class CopyVsUnnest
{
    private const string Columns = "wallet_id, seq, at, kind, amount, balance_after, reference, idempotency_key, session_id, instance_type, model, workload, lot_id, fingerprint";

    public static async Task RunAsync()
    {
        Console.WriteLine("== ledger insert: unnest in the commit's batch vs binary COPY in a transaction (issue 28)");
        var cs = await Databases.CreateAsync("copy");
        await using var db = NpgsqlDataSource.Create(cs);
        await using var conn = await db.OpenConnectionAsync();
        long seq = 0;
        foreach (int rows in new[] { 1, 16, 64, 256 })
        {
            var unnest = TimeSpan.Zero;
            var copy = TimeSpan.Zero;
            int transactions = Math.Max(50, 4000 / rows);
            for (int t = 0; t < transactions; t++)
            {
                long first = seq;
                seq += rows;
                var started = Stopwatch.GetTimestamp();
                if (t % 2 == 0) await UnnestAsync(conn, first, rows); else await CopyAsync(conn, first, rows);
                if (t % 2 == 0) unnest += Stopwatch.GetElapsedTime(started); else copy += Stopwatch.GetElapsedTime(started);
            }
            double half = transactions / 2.0;
            Console.WriteLine($"  {rows,4} rows/transaction: unnest {unnest.TotalMilliseconds / half,7:0.000} ms ({unnest.TotalMicroseconds / half / rows,6:0.0} µs/row)" +
                              $"   binary COPY {copy.TotalMilliseconds / half,7:0.000} ms ({copy.TotalMicroseconds / half / rows,6:0.0} µs/row)");
        }
    }

    private static async Task UnnestAsync(NpgsqlConnection conn, long first, int rows)
    {
        await using var batch = new NpgsqlBatch(conn);
        var cmd = new NpgsqlBatchCommand(
            $"INSERT INTO qubrid_ledger ({Columns}) SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[], " +
            "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[])");
        var seqs = Enumerable.Range(0, rows).Select(i => first + i + 1).ToArray();
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => "bench-wallet").ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => DateTime.UtcNow).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => "inference_charge").ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => -1000L).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => 1_000_000L).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => "model-x").ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(s => $"key-{s}").ToArray() });
        for (int i = 0; i < 4; i++) cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => (string?)null).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => 1L).ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = seqs.Select(_ => "0123456789abcdef0123456789abcdef").ToArray() });
        batch.BatchCommands.Add(cmd);
        await batch.ExecuteNonQueryAsync();
    }

    private static async Task CopyAsync(NpgsqlConnection conn, long first, int rows)
    {
        await using var tx = await conn.BeginTransactionAsync();
        await using (var import = await conn.BeginBinaryImportAsync($"COPY qubrid_ledger ({Columns}) FROM STDIN (FORMAT BINARY)"))
        {
            for (long s = first + 1; s <= first + rows; s++)
            {
                await import.StartRowAsync();
                await import.WriteAsync("bench-wallet", NpgsqlDbType.Text);
                await import.WriteAsync(s, NpgsqlDbType.Bigint);
                await import.WriteAsync(DateTime.UtcNow, NpgsqlDbType.TimestampTz);
                await import.WriteAsync("inference_charge", NpgsqlDbType.Text);
                await import.WriteAsync(-1000L, NpgsqlDbType.Bigint);
                await import.WriteAsync(1_000_000L, NpgsqlDbType.Bigint);
                await import.WriteAsync("model-x", NpgsqlDbType.Text);
                await import.WriteAsync($"key-{s}", NpgsqlDbType.Text);
                for (int i = 0; i < 4; i++) await import.WriteNullAsync();
                await import.WriteAsync(1L, NpgsqlDbType.Bigint);
                await import.WriteAsync("0123456789abcdef0123456789abcdef", NpgsqlDbType.Text);
            }
            await import.CompleteAsync();
        }
        await tx.CommitAsync();
    }
}
