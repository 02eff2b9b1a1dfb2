using Npgsql;
using Qubrid.Core;

namespace Qubrid.Refunds;

/// <summary>A payment a refund to the card may name: whose wallet it credited, the lot it bought, and whether it succeeded.</summary>
public sealed record PaidTopup(string PaymentId, string WalletId, long? LotId, bool Succeeded);

/// <summary>Reads of refunds to the card, the payments they refund, and the monthly credits report.</summary>
public sealed class RefundStore(NpgsqlDataSource db)
{
    private const string RefundColumns =
        "r.refund_id, r.wallet_id, r.payment_id, r.lot_id, r.amount, r.reason, r.status, r.created_at, r.seq, n.number, r.failure";
    private const string FromRefunds = "FROM qubrid_card_refunds r LEFT JOIN qubrid_credit_notes n ON n.refund_id = r.refund_id";

    public async Task<PaidTopup?> FindPaymentAsync(string paymentId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("SELECT payment_id, user_id, lot_id, status FROM qubrid_payments WHERE payment_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        return new PaidTopup(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2), reader.GetString(3) == "succeeded");
    }

    /// <summary>The kind of a wallet's lot (open or closed), or null when the wallet has no such lot.</summary>
    public async Task<LotKind?> FindLotKindAsync(string walletId, long lotId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("SELECT kind FROM qubrid_lots WHERE wallet_id = $1 AND lot_id = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = lotId });
        return await cmd.ExecuteScalarAsync(ct) is string kind ? LedgerKinds.ParseLotKind(kind) : null;
    }

    public async Task<CardRefundView?> FindRefundAsync(string refundId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {RefundColumns} {FromRefunds} WHERE r.refund_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = refundId });
        return (await ReadAllAsync(cmd, ct)).SingleOrDefault();
    }

    /// <summary>Refunds of a payment still pending (a crash left them between the gateway and the ledger), oldest first.</summary>
    public async Task<IReadOnlyList<CardRefundView>> PendingRefundsAsync(string paymentId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {RefundColumns} {FromRefunds} WHERE r.payment_id = $1 AND r.status = 'pending' ORDER BY r.created_at LIMIT 100");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        return await ReadAllAsync(cmd, ct);
    }

    public async Task<IReadOnlyList<CardRefundView>> RefundsAsync(string walletId, int limit, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {RefundColumns} {FromRefunds} WHERE r.wallet_id = $1 ORDER BY r.created_at DESC, r.refund_id LIMIT $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Math.Clamp(limit, 1, 1000) });
        return await ReadAllAsync(cmd, ct);
    }

    private static async Task<IReadOnlyList<CardRefundView>> ReadAllAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        var list = new List<CardRefundView>();
        await using var r = await cmd.ExecuteReaderAsync(ct);
        while (await r.ReadAsync(ct))
        {
            list.Add(new CardRefundView(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), new Micros(r.GetInt64(4)), r.GetString(5),
                CardRefunds.ParseStatus(r.GetString(6)), new DateTimeOffset(r.GetDateTime(7), TimeSpan.Zero), r.IsDBNull(8) ? null : r.GetInt64(8),
                r.IsDBNull(9) ? null : r.GetString(9), r.IsDBNull(10) ? null : r.GetString(10)));
        }
        return list;
    }

    // R-REPORT-1: every figure is a sum of ledger movements (lot_id for single-lot entries, qubrid_ledger_lots otherwise), in one statement.
    /// <summary>
    /// The movements of every entry before the month's end, each with the kind of the lot it moved, summed in one statement
    /// (one snapshot): the month's flows by entry kind and lot kind, and purchased lots' remaining at the month's end.
    /// </summary>
    public const string ReportSql =
        """
        WITH mv AS (
            SELECT e.wallet_id, e.kind, e.at, e.lot_id, e.amount FROM qubrid_ledger e WHERE e.lot_id IS NOT NULL AND e.at < $2
            UNION ALL
            SELECT e.wallet_id, e.kind, e.at, m.lot_id, m.amount
            FROM qubrid_ledger e JOIN qubrid_ledger_lots m ON m.wallet_id = e.wallet_id AND m.seq = e.seq
            WHERE e.lot_id IS NULL AND e.at < $2),
        k AS (SELECT mv.*, l.kind AS lot_kind, mv.at >= $1 AS in_month FROM mv JOIN qubrid_lots l ON l.wallet_id = mv.wallet_id AND l.lot_id = mv.lot_id)
        SELECT coalesce(sum(amount) FILTER (WHERE in_month AND lot_kind = 'promotional' AND amount > 0), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE in_month AND lot_kind = 'promotional' AND kind = ANY($3)), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE in_month AND lot_kind = 'promotional' AND kind = 'expiration'), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE in_month AND lot_kind = 'promotional' AND kind = 'grant_void'), 0)::bigint,
               coalesce(sum(amount) FILTER (WHERE in_month AND lot_kind = 'purchased' AND kind = 'topup'), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE in_month AND lot_kind = 'purchased' AND kind = ANY($3)), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE in_month AND lot_kind = 'purchased' AND kind = 'card_refund'), 0)::bigint,
               coalesce(sum(amount) FILTER (WHERE lot_kind = 'purchased'), 0)::bigint
        FROM k
        """;

    public async Task<CreditsReport> CreditsReportAsync(int year, int month, CancellationToken ct = default)
    {
        var from = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Utc);
        await using var cmd = db.CreateCommand(ReportSql);
        cmd.Parameters.Add(new NpgsqlParameter { Value = from });
        cmd.Parameters.Add(new NpgsqlParameter { Value = from.AddMonths(1) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = SpendPeriods.SpendingKindsWire });
        await using var r = await cmd.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        Micros M(int i) => new(r.GetInt64(i));
        return new CreditsReport(year, month, M(0), M(1), M(2), M(3), M(4), M(5), M(6), M(7));
    }
}
