using Npgsql;

namespace Qubrid.Storage;

/// <summary>One broken ledger invariant.</summary>
public sealed record Violation(string WalletId, string Rule, string Detail);

/// <summary>The outcome of checking every wallet in the database.</summary>
public sealed record ReconcileReport(long WalletsChecked, long EntriesChecked, IReadOnlyList<Violation> Violations)
{
    public bool IsClean => Violations.Count == 0;
}

/// <summary>
/// Proves the ledger invariants of docs/rules.md (R-LEDGER-2, R-EXP-3, R-RCPT-1) over the whole database, in SQL, from the ledger alone:
/// Σ entries = balance; Σ open lots = balance; each entry's lot movements (side table or lean lot_id) sum to its amount; each lot's
/// remaining = its amount − what entries took; balance_after is the running sum; seqs have no gaps; sessions' charged
/// equals their entries; no expiration is overdue.
/// </summary>
// R-LEDGER-4: re-checks R-LEDGER-2, R-EXP-3 and R-RCPT-1 in SQL, in one repeatable-read snapshot.
public static partial class Reconciler
{
    private const int MaxViolationsPerRule = 1_000;

    // R-EXP-3: a lot this far past its expiry and still holding credits is reported.
    /// <summary>How late an expiration entry may be before reconcile reports it (the reminder's retries fit well within it).</summary>
    public const int ExpiryGraceSeconds = 600;

    private static readonly (string Rule, string Sql)[] Checks =
    [
        ("balance = sum of entries", """
            SELECT w.wallet_id, format('balance %s, entries sum to %s', w.balance, coalesce(s.total, 0))
            FROM qubrid_wallets w LEFT JOIN (SELECT wallet_id, sum(amount) AS total FROM qubrid_ledger GROUP BY wallet_id) s USING (wallet_id)
            WHERE w.balance <> coalesce(s.total, 0)
            """),
        ("every entry's wallet exists", """
            SELECT e.wallet_id, format('%s entries, no wallet row', count(*))
            FROM qubrid_ledger e LEFT JOIN qubrid_wallets w USING (wallet_id)
            WHERE w.wallet_id IS NULL GROUP BY e.wallet_id
            """),
        ("balance = sum of lots", """
            SELECT w.wallet_id, format('balance %s, lots hold %s', w.balance, coalesce(s.total, 0))
            FROM qubrid_wallets w LEFT JOIN (SELECT wallet_id, sum(remaining) AS total FROM qubrid_lots GROUP BY wallet_id) s USING (wallet_id)
            WHERE w.balance <> coalesce(s.total, 0)
            """),
        ("entry = sum of its lot movements", """
            SELECT e.wallet_id, format('entry %s of %s has lot movements summing to %s', e.seq, e.amount, coalesce(m.total, 0))
            FROM qubrid_ledger e LEFT JOIN (SELECT wallet_id, seq, sum(amount) AS total FROM {movements} AS mv GROUP BY wallet_id, seq) m USING (wallet_id, seq)
            WHERE e.amount <> coalesce(m.total, 0)
            """),
        ("lot remaining = amount - taken", """
            SELECT l.wallet_id, format('lot %s: amount %s, remaining %s, ledger credits %s and takes %s', l.lot_id, l.amount, l.remaining, coalesce(m.credited, 0), coalesce(m.taken, 0))
            FROM qubrid_lots l LEFT JOIN (
                SELECT wallet_id, lot_id, sum(amount) FILTER (WHERE amount > 0) AS credited, sum(-amount) FILTER (WHERE amount < 0) AS taken
                FROM {movements} AS mv GROUP BY wallet_id, lot_id) m USING (wallet_id, lot_id)
            WHERE coalesce(m.credited, 0) <> l.amount OR l.remaining <> l.amount - coalesce(m.taken, 0)
            """),
        ("movements name existing lots", """
            SELECT m.wallet_id, format('entry %s moves %s on lot %s, which does not exist', m.seq, m.amount, m.lot_id)
            FROM {movements} m LEFT JOIN qubrid_lots l USING (wallet_id, lot_id)
            WHERE l.lot_id IS NULL
            """),
        ("movements belong to an entry", """
            SELECT m.wallet_id, format('lot %s has a movement of %s for entry %s, which does not exist', m.lot_id, m.amount, m.seq)
            FROM qubrid_ledger_lots m LEFT JOIN qubrid_ledger e USING (wallet_id, seq)
            WHERE e.seq IS NULL
            """),
        ("balance_after is the running sum", """
            SELECT wallet_id, format('entry %s says balance %s, running sum is %s', seq, balance_after, running)
            FROM (SELECT wallet_id, seq, balance_after, sum(amount) OVER (PARTITION BY wallet_id ORDER BY seq) AS running FROM qubrid_ledger) r
            WHERE balance_after <> running
            """),
        ("seqs are 1..n without gaps", """
            SELECT w.wallet_id, format('next seq %s, entries %s, highest %s', w.next_seq, coalesce(s.n, 0), coalesce(s.top, 0))
            FROM qubrid_wallets w LEFT JOIN (SELECT wallet_id, count(*) AS n, max(seq) AS top FROM qubrid_ledger GROUP BY wallet_id) s USING (wallet_id)
            WHERE coalesce(s.n, 0) <> coalesce(s.top, 0) OR w.next_seq <> coalesce(s.top, 0) + 1
            """),
        ("session charged = sum of its charges", """
            SELECT s.wallet_id, format('session %s: charged %s, ledger holds %s', s.session_id, s.charged, coalesce(c.total, 0))
            FROM qubrid_wallet_sessions s LEFT JOIN (
                SELECT wallet_id, session_id, -sum(amount) AS total FROM qubrid_ledger WHERE kind = 'session_charge' GROUP BY wallet_id, session_id) c
                USING (wallet_id, session_id)
            WHERE s.charged <> coalesce(c.total, 0)
            """),
        // Receipts (migration 0021) are written in the crediting transaction: every top-up has one, and each year's
        // numbers run 1..n without gaps up to its counter.
        ("every top-up has its receipt", """
            SELECT l.wallet_id, format('top-up entry %s (%s) has no receipt', l.seq, l.reference)
            FROM qubrid_ledger l LEFT JOIN qubrid_receipts r ON r.wallet_id = l.wallet_id AND r.seq = l.seq
            WHERE l.kind = 'topup' AND r.number IS NULL
            """),
        ("receipt numbers are 1..n per year without gaps", """
            SELECT 'receipts ' || c.year, format('counter at %s, %s receipts, highest %s', c.last_number, coalesce(r.n, 0), coalesce(r.top, 0))
            FROM qubrid_receipt_counters c LEFT JOIN (SELECT year, count(*) AS n, max(serial) AS top FROM qubrid_receipts GROUP BY year) r USING (year)
            WHERE coalesce(r.n, 0) <> c.last_number OR coalesce(r.top, 0) <> c.last_number
            """),
        // Expiry runs on the silos (a reminder per wallet, retried within seconds): a lot past its expiry that still
        // holds credits after the grace below has been missed, even if every read already excludes it.
        ("expirations are written on time", $$"""
            SELECT wallet_id, format('lot %s expired at %s and still holds %s: its expiration entry is overdue', lot_id, expires_at, remaining)
            FROM qubrid_lots
            WHERE remaining > 0 AND expires_at < now() - interval '{{ExpiryGraceSeconds}} seconds'
            """),
    ];


    /// <summary>
    /// Issue 28: the lean rows' own invariants (migration 0040). An entry's movements are in one place (its lot_id or
    /// qubrid_ledger_lots), and an idempotency key is recorded in one place (an entry's fingerprint or qubrid_idempotency).
    /// </summary>
    private static readonly (string Rule, string Sql)[] LeanChecks =
    [
        ("an entry's movements are in one place", """
            SELECT e.wallet_id, format('entry %s holds lot %s and has %s rows in qubrid_ledger_lots', e.seq, e.lot_id, count(*))
            FROM qubrid_ledger e JOIN qubrid_ledger_lots m USING (wallet_id, seq)
            WHERE e.lot_id IS NOT NULL GROUP BY e.wallet_id, e.seq, e.lot_id
            """),
        ("a key is recorded in one place", """
            SELECT e.wallet_id, format('key %s is recorded by entry %s and in qubrid_idempotency', e.idempotency_key, e.seq)
            FROM qubrid_ledger e JOIN qubrid_idempotency i USING (wallet_id, idempotency_key)
            WHERE e.fingerprint IS NOT NULL
            """),
    ];

    /// <summary>Every lot movement: the side table's rows and, after migration 0040, the lean entries' single lots.</summary>
    private const string LeanMovements =
        "(SELECT wallet_id, seq, lot_id, amount FROM qubrid_ledger_lots UNION ALL SELECT wallet_id, seq, lot_id, amount FROM qubrid_ledger WHERE lot_id IS NOT NULL)";

    public static async Task<ReconcileReport> RunAsync(NpgsqlDataSource dataSource, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        // One snapshot for every check, so concurrent writers cannot make a consistent ledger look broken.
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        long wallets, entries;
        await using (var count = new NpgsqlCommand("SELECT (SELECT count(*) FROM qubrid_wallets), (SELECT count(*) FROM qubrid_ledger)", conn, tx))
        await using (var reader = await count.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            wallets = reader.GetInt64(0);
            entries = reader.GetInt64(1);
        }
        bool lean, refunds;
        await using (var shape = new NpgsqlCommand(
            "SELECT to_regclass('qubrid_cluster_version') IS NOT NULL, to_regclass('qubrid_card_refunds') IS NOT NULL", conn, tx))
        await using (var reader = await shape.ExecuteReaderAsync(ct))
        {
            await reader.ReadAsync(ct);
            (lean, refunds) = (reader.GetBoolean(0), reader.GetBoolean(1));
        }
        var violations = new List<Violation>();
        foreach (var (rule, sql) in (lean ? [.. Checks, .. LeanChecks] : Checks).Concat(refunds ? RefundChecks : []))
        {
            string check = sql.Replace("{movements}", lean ? LeanMovements : "qubrid_ledger_lots", StringComparison.Ordinal);
            await using var cmd = new NpgsqlCommand($"{check} LIMIT {MaxViolationsPerRule}", conn, tx);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) violations.Add(new Violation(reader.GetString(0), rule, reader.GetString(1)));
        }
        if (refunds && lean) await CheckCreditsReportsAsync(conn, tx, violations, ct);
        await tx.CommitAsync(ct);
        return new ReconcileReport(wallets, entries, violations);
    }
}
