using Npgsql;
using Qubrid.Core;

namespace Qubrid.Storage;

// Issue 28: the ledger rows of a commit in the shape the cluster version gate calls for (ClusterVersion, migration 0040).
internal static partial class CommitStatements
{
    /// <summary>SQLSTATE raised by qubrid_expect_new_keys (migration 0040) when a key of the commit is recorded already.</summary>
    public const string KeyTaken = "QB002";

    /// <summary>
    /// The previous release's twelve columns. Whom usage was for (member_id, project_id, migration 0050) is written with the lean rows
    /// only: the previous shape is for a database the upgrade has not finalized, which may not have those columns yet.
    /// </summary>
    private const int PreviousEntryColumns = 12;

    private static void AddEntries(NpgsqlBatch batch, Columns entries, LedgerRowShape shape)
    {
        if (entries.Rows == 0) return;
        if (shape != LedgerRowShape.Lean)
        {
            // Exactly the previous release's statement: its silos may run beside this one and read what it reads.
            batch.BatchCommands.Add(entries.Command(
                """
                INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference, idempotency_key, session_id, instance_type, model, workload)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                """, PreviousEntryColumns));
            return;
        }
        batch.BatchCommands.Add(entries.Command(
            """
            INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference, idempotency_key, session_id, instance_type, model, workload, lot_id, fingerprint, member_id, project_id)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::text[], $15::text[], $16::text[])
            """));
    }

    /// <summary>
    /// A key is recorded in the entry it wrote (lean) or in qubrid_idempotency, and each place's unique index sees only
    /// itself: the commit refuses (QB002) a key that the other place holds already (each key is looked up in the place
    /// it does not go to). Not against a database before 0040.
    /// </summary>
    private static void AddKeyCheck(NpgsqlBatch batch, Columns keys, LedgerRowShape shape)
    {
        if (keys.Rows == 0 || shape == LedgerRowShape.Previous) return;
        batch.BatchCommands.Add(keys.Command(
            """
            SELECT qubrid_expect_new_keys((
                SELECT count(*) FROM unnest($1::text[], $2::text[], $3::boolean[]) AS u(wallet_id, idempotency_key, inline)
                WHERE CASE WHEN u.inline
                      THEN EXISTS (SELECT 1 FROM qubrid_idempotency i WHERE i.wallet_id = u.wallet_id AND i.idempotency_key = u.idempotency_key)
                      ELSE EXISTS (SELECT 1 FROM qubrid_ledger e
                                   WHERE e.wallet_id = u.wallet_id AND e.idempotency_key = u.idempotency_key AND e.fingerprint IS NOT NULL) END))
            """));
    }

    private sealed partial class Rows
    {
        /// <summary>
        /// The entries, their lot movements and the batch's idempotency records. Lean: an entry that moved one lot holds
        /// it, and the outcome that <see cref="EntryShape.Answers"/> describes exactly is the entry's fingerprint; the rest
        /// go to their side tables. Otherwise every movement and outcome goes to its side table, as the previous release wrote them.
        /// </summary>
        public void CollectEntriesAndOutcomes(WalletCommit commit)
        {
            string walletId = commit.Book.WalletId;
            bool lean = shape == LedgerRowShape.Lean;
            var bySeq = lean && commit.Outcomes.Count > 0 ? commit.Changes.Entries.ToDictionary(e => e.Seq) : null;
            var inline = new Dictionary<long, StoredOutcome>();
            foreach (var o in commit.Outcomes)
            {
                var entry = bySeq is not null && o.Seq is { } seq ? bySeq.GetValueOrDefault(seq) : null;
                bool inEntry = entry is not null && EntryShape.Answers(entry, o);
                if (shape != LedgerRowShape.Previous) Keys.Add(walletId, o.Key, inEntry);
                if (inEntry)
                {
                    inline[entry!.Seq] = o;
                    continue;
                }
                Outcomes.Add(walletId, o.Key, o.Fingerprint, o.Seq, o.Amount.Value, o.BalanceAfter.Value, o.LotId, commit.Now.UtcDateTime,
                    o.Status == WalletOpStatus.Applied ? null : o.ErrorCode, o.Status == WalletOpStatus.Applied ? null : o.Detail);
            }
            foreach (var e in commit.Changes.Entries)
            {
                long? lotId = lean ? EntryShape.SingleLot(e) : null;
                Entries.Add(walletId, e.Seq, e.At.UtcDateTime, e.Kind.ToWire(), e.Amount.Value, e.BalanceAfter.Value, e.Reference, e.IdempotencyKey,
                    e.Usage?.SessionId, e.Usage?.InstanceType, e.Usage?.Model, e.Usage?.Workload, lotId, inline.GetValueOrDefault(e.Seq)?.Fingerprint,
                    e.Usage?.MemberId, e.Usage?.ProjectId);
                if (lotId is null)
                {
                    foreach (var m in e.Lots) Moves.Add(walletId, e.Seq, m.LotId, m.Amount.Value);
                }
            }
        }
    }
}

/// <summary>
/// The lean ledger row (issue 28): what an entry holds in place of a qubrid_ledger_lots row and a qubrid_idempotency
/// row. The readers (LedgerStore, StatementStore, Reconciler, the contract step) rebuild them with the same rules.
/// </summary>
internal static class EntryShape
{
    /// <summary>The lot an entry moved when it moved exactly one, by its whole amount; null when its movements need the side table.</summary>
    public static long? SingleLot(LedgerEntryView entry) =>
        entry.Lots is [var only] && only.Amount == entry.Amount ? only.LotId : null;

    /// <summary>
    /// Whether the entry, as stored lean, says everything <paramref name="outcome"/> records: applied, its seq and key,
    /// amount |entry amount|, the balance after it, and as lot the one a credit moved (null for a debit). LedgerReads
    /// reads such an entry back as that outcome.
    /// </summary>
    public static bool Answers(LedgerEntryView entry, StoredOutcome outcome) =>
        outcome.Status == WalletOpStatus.Applied && outcome.ErrorCode is null && outcome.Detail is null
        && outcome.Seq == entry.Seq && outcome.Key == entry.IdempotencyKey
        && outcome.Amount.Value == Math.Abs(entry.Amount.Value) && outcome.BalanceAfter == entry.BalanceAfter
        && outcome.LotId == (entry.Amount.Value > 0 ? SingleLot(entry) : null);
}
