using Npgsql;

namespace Qubrid.Storage;

/// <summary>Refunds to the card in the ledger transaction: their rows, and the credit notes of those that succeeded.</summary>
internal static partial class CommitStatements
{
    /// <summary>A refund row is written pending when the batch reserves it, and moved to its end in the batch that settles it.</summary>
    private static void AddCardRefunds(NpgsqlBatch batch, Columns refunds)
    {
        if (refunds.Rows == 0) return;
        batch.BatchCommands.Add(refunds.Command(
            """
            INSERT INTO qubrid_card_refunds AS r (refund_id, wallet_id, payment_id, idempotency_key, lot_id, amount, reason, status, created_at, settled_at, seq, failure)
            SELECT u.refund_id, u.wallet_id, u.payment_id, u.idempotency_key, u.lot_id, u.amount, u.reason, u.status, u.created_at,
                   CASE WHEN u.status = 'pending' THEN NULL ELSE u.at END, u.seq, u.failure
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[],
                        $10::timestamptz[], $11::bigint[], $12::text[]) AS u(refund_id, wallet_id, payment_id, idempotency_key, lot_id, amount, reason, status,
                        created_at, at, seq, failure)
            ON CONFLICT (refund_id) DO UPDATE SET status = EXCLUDED.status, settled_at = EXCLUDED.settled_at, seq = EXCLUDED.seq, failure = EXCLUDED.failure
            WHERE r.status = 'pending'
            """));
    }

    // R-REFUND-3: gapless credit note numbers per UTC year, their own series, taken in the card_refund entry's transaction.
    /// <summary>Credit notes of the refunds this transaction settles, numbered from the year's counter row (as receipts are).</summary>
    private static void AddCreditNotes(NpgsqlBatch batch, Columns notes)
    {
        if (notes.Rows == 0) return;
        batch.BatchCommands.Add(notes.Command(
            $"""
            {YearSerials("unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[])",
                "wallet_id, seq, at, amount, refund_id, payment_id", "qubrid_credit_note_counters")}
            INSERT INTO qubrid_credit_notes (number, year, serial, wallet_id, seq, at, amount, refund_id, payment_id)
            SELECT {NumberOf("QC-CN-")}, n.year, n.serial,
                   n.wallet_id, n.seq, n.at, n.amount, n.refund_id, n.payment_id
            FROM numbered n
            """));
    }

    private sealed partial class Rows
    {
        public Columns CardRefunds { get; } = new(typeof(string), typeof(string), typeof(string), typeof(string), typeof(long), typeof(long), typeof(string),
            typeof(string), typeof(DateTime), typeof(DateTime), typeof(long), typeof(string));
        public Columns CreditNotes { get; } = new(typeof(string), typeof(long), typeof(DateTime), typeof(long), typeof(string), typeof(string));

        private void CollectCardRefunds(WalletCommit commit)
        {
            string walletId = commit.Book.WalletId;
            foreach (var c in commit.Changes.CardRefunds)
            {
                var r = c.Refund;
                CardRefunds.Add(r.RefundId, walletId, r.PaymentId, r.IdempotencyKey, r.LotId, r.Amount.Value, r.Reason, c.Status.ToWire(),
                    r.CreatedAt.UtcDateTime, c.At.UtcDateTime, c.Seq, c.Failure);
                if (c.Status == CardRefundStatus.Succeeded && c.Seq is { } seq)
                    CreditNotes.Add(walletId, seq, c.At.UtcDateTime, r.Amount.Value, r.RefundId, r.PaymentId);
            }
        }
    }
}
