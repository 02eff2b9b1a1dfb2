using Npgsql;
using Qubrid.Refunds;

namespace Qubrid.Storage;

/// <summary>Refunds to the card and the credits report (migration 0061): their invariants, and the report against the entries.</summary>
public static partial class Reconciler
{
    private static readonly (string Rule, string Sql)[] RefundChecks =
    [
        ("every card refund has its credit note", """
            SELECT l.wallet_id, format('card_refund entry %s (%s) has no credit note', l.seq, l.reference)
            FROM qubrid_ledger l LEFT JOIN qubrid_credit_notes n ON n.wallet_id = l.wallet_id AND n.seq = l.seq
            WHERE l.kind = 'card_refund' AND n.number IS NULL
            """),
        ("credit note numbers are 1..n per year without gaps", """
            SELECT 'credit notes ' || c.year, format('counter at %s, %s notes, highest %s', c.last_number, coalesce(n.n, 0), coalesce(n.top, 0))
            FROM qubrid_credit_note_counters c LEFT JOIN (SELECT year, count(*) AS n, max(serial) AS top FROM qubrid_credit_notes GROUP BY year) n USING (year)
            WHERE coalesce(n.n, 0) <> c.last_number OR coalesce(n.top, 0) <> c.last_number
            """),
        ("a succeeded refund is one card_refund entry of its amount from its lot", """
            SELECT r.wallet_id, format('refund %s of %s: entry %s is %s %s', r.refund_id, r.amount, r.seq, l.kind, l.amount)
            FROM qubrid_card_refunds r LEFT JOIN qubrid_ledger l ON l.wallet_id = r.wallet_id AND l.seq = r.seq
            WHERE r.status = 'succeeded' AND (l.kind IS DISTINCT FROM 'card_refund' OR l.amount <> -r.amount OR coalesce(l.lot_id, r.lot_id) <> r.lot_id)
            """),
    ];

    /// <summary>The month's flows summed per entry (not per lot movement): what the report's figures must add up to.</summary>
    private const string EntryFlows =
        """
        SELECT coalesce(sum(amount) FILTER (WHERE kind = 'grant'), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE kind = ANY($3)), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE kind = 'expiration'), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE kind = 'grant_void'), 0)::bigint,
               coalesce(sum(amount) FILTER (WHERE kind = 'topup'), 0)::bigint,
               coalesce(-sum(amount) FILTER (WHERE kind = 'card_refund'), 0)::bigint,
               (SELECT coalesce(sum(remaining), 0)::bigint FROM qubrid_lots WHERE kind = 'purchased'),
               (SELECT max(at) FROM qubrid_ledger) < $2
        FROM qubrid_ledger WHERE at >= $1 AND at < $2
        """;

    // R-REPORT-2: reconcile recomputes each month's credits report from the entries themselves.
    /// <summary>
    /// For every month the ledger has entries in (the last 36 at most), the credits report (<see cref="RefundStore.ReportSql"/>,
    /// from lot movements) against the same month summed per entry: granted, consumed (promotional + purchased), expired,
    /// voided, bought and refunded must agree, and for the month holding the last entry, outstanding must equal what
    /// purchased lots hold now.
    /// </summary>
    private static async Task CheckCreditsReportsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, List<Violation> violations, CancellationToken ct)
    {
        var months = new List<DateTime>();
        await using (var list = new NpgsqlCommand(
            "SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') AS m FROM qubrid_ledger ORDER BY m DESC LIMIT 36", conn, tx))
        await using (var reader = await list.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct)) months.Add(DateTime.SpecifyKind(reader.GetDateTime(0), DateTimeKind.Utc));
        }
        foreach (var from in months)
        {
            var report = await SumsAsync(RefundStore.ReportSql, from, conn, tx, ct);
            var entries = await SumsAsync(EntryFlows, from, conn, tx, ct);
            var (granted, consumed, expired, voided, bought, refunded) =
                (report[0], report[1] + report[5], report[2], report[3], report[4], report[6]);
            var differs = granted != entries[0] || consumed != entries[1] || expired != entries[2] || voided != entries[3] || bought != entries[4]
                || refunded != entries[5] || (entries[7] == 1 && report[7] != entries[6]);
            if (differs)
                violations.Add(new Violation($"report {from:yyyy-MM}", "the credits report equals the entries",
                    $"report {string.Join(' ', report)}; entries {string.Join(' ', entries)}"));
        }
    }

    private static async Task<long[]> SumsAsync(string sql, DateTime from, NpgsqlConnection conn, NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = from });
        cmd.Parameters.Add(new NpgsqlParameter { Value = from.AddMonths(1) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Core.SpendPeriods.SpendingKindsWire });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var sums = new long[reader.FieldCount];
        for (int i = 0; i < sums.Length; i++) sums[i] = reader.IsDBNull(i) ? 0 : reader.GetFieldType(i) == typeof(bool) ? (reader.GetBoolean(i) ? 1 : 0) : reader.GetInt64(i);
        return sums;
    }
}
