using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Statements;

/// <summary>Receipts (written by the ledger writer with each top-up) and monthly statements, computed in SQL from the ledger.</summary>
public sealed class StatementStore(NpgsqlDataSource db)
{
    private static readonly string[] CreditKindsWire = LedgerKinds.CreditKinds.ToWire();

    private const string ReceiptColumns = "number, at, amount, payment_id, card_brand, card_last4, lot_id, wallet_id";

    public async Task<IReadOnlyList<Receipt>> ReceiptsAsync(string walletId, int limit, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            $"SELECT {ReceiptColumns} FROM qubrid_receipts WHERE wallet_id = $1 ORDER BY at DESC, seq DESC LIMIT $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Math.Clamp(limit, 1, 1000) });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<Receipt>();
        while (await reader.ReadAsync(ct)) list.Add(ReadReceipt(reader));
        return list;
    }

    public async Task<Receipt?> ReceiptAsync(string walletId, string number, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {ReceiptColumns} FROM qubrid_receipts WHERE wallet_id = $1 AND number = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = number });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadReceipt(reader) : null;
    }

    // R-STMT-1: opening + Σ lines = closing, months cut by at.
    /// <summary>
    /// The month [from, to) of a wallet, in one snapshot: opening = balance after the last entry before the month, closing =
    /// after the last entry before its end (entries' <c>at</c> never decreases along seq, so "last by at" is "last by seq");
    /// lines = the month's entries by kind and key (instance type or model for consumption; promotional or purchased for
    /// expirations, split by the lots each expiration took from). opening + Σ lines = closing is asserted here.
    /// </summary>
    public async Task<MonthlyStatement> StatementAsync(string walletId, int year, int month, CancellationToken ct = default)
    {
        var from = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Utc);
        var to = from.AddMonths(1);
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        bool exists;
        long opening, closing;
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT EXISTS (SELECT 1 FROM qubrid_wallets WHERE wallet_id = $1),
                   coalesce((SELECT balance_after FROM qubrid_ledger WHERE wallet_id = $1 AND at < $2 ORDER BY at DESC, seq DESC LIMIT 1), 0),
                   coalesce((SELECT balance_after FROM qubrid_ledger WHERE wallet_id = $1 AND at < $3 ORDER BY at DESC, seq DESC LIMIT 1), 0)
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = from });
            cmd.Parameters.Add(new NpgsqlParameter { Value = to });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            (exists, opening, closing) = (reader.GetBoolean(0), reader.GetInt64(1), reader.GetInt64(2));
        }
        var lines = new List<StatementLine>();
        await using (var cmd = new NpgsqlCommand(
            """
            SELECT kind, key, sum(amount)::bigint, count(*) FROM (
                SELECT l.kind,
                       CASE WHEN l.kind = ANY($4) THEN NULL ELSE coalesce(l.instance_type, l.model) END AS key,
                       l.amount
                FROM qubrid_ledger l
                WHERE l.wallet_id = $1 AND l.at >= $2 AND l.at < $3 AND l.kind <> 'expiration'
                UNION ALL
                SELECT 'expiration', lo.kind, sum(m.amount)
                FROM qubrid_ledger l
                JOIN (SELECT wallet_id, seq, lot_id, amount FROM qubrid_ledger_lots WHERE wallet_id = $1
                      UNION ALL SELECT wallet_id, seq, lot_id, amount FROM qubrid_ledger -- a lean expiration's one lot (issue 28)
                      WHERE wallet_id = $1 AND kind = 'expiration' AND at >= $2 AND at < $3 AND lot_id IS NOT NULL) m
                    ON m.wallet_id = l.wallet_id AND m.seq = l.seq
                JOIN qubrid_lots lo ON lo.wallet_id = m.wallet_id AND lo.lot_id = m.lot_id
                WHERE l.wallet_id = $1 AND l.at >= $2 AND l.at < $3 AND l.kind = 'expiration'
                GROUP BY l.seq, lo.kind
            ) x
            GROUP BY kind, key
            ORDER BY kind, key NULLS FIRST
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = from });
            cmd.Parameters.Add(new NpgsqlParameter { Value = to });
            cmd.Parameters.Add(new NpgsqlParameter { Value = CreditKindsWire, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                lines.Add(new StatementLine(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), new Micros(reader.GetInt64(2)), reader.GetInt64(3)));
        }
        await tx.CommitAsync(ct);
        var sum = lines.Aggregate(new Micros(opening), (total, line) => total + line.Amount);
        Invariant.Check(sum.Value == closing, "a statement's opening plus its lines is its closing balance");
        return new MonthlyStatement(walletId, year, month, new Micros(opening), new Micros(closing), lines, exists);
    }

    private static Receipt ReadReceipt(NpgsqlDataReader r) => new(
        r.GetString(0), new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero), new Micros(r.GetInt64(2)), r.GetString(3),
        r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), r.GetInt64(6), r.GetString(7));
}
