using Npgsql;
using NpgsqlTypes;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>
/// The reads that see both ledger row shapes (issue 28): an idempotency record is a qubrid_idempotency row or a lean
/// entry's fingerprint; an entry's lot movements are qubrid_ledger_lots rows or its lot_id. With <c>lean</c> false
/// (a database before migration 0040) they read only the previous shape's places.
/// </summary>
internal static class LedgerReads
{
    /// <summary>
    /// The lean entries' records, as <see cref="EntryShape.Answers"/> wrote them: amount |entry amount|, and the lot for a credit only.
    /// </summary>
    private const string InlineOutcomes =
        """
        UNION ALL
        SELECT idempotency_key, fingerprint, seq, abs(amount), balance_after, CASE WHEN amount > 0 THEN lot_id END, NULL, NULL
        FROM qubrid_ledger WHERE wallet_id = $1 AND idempotency_key = ANY($2) AND fingerprint IS NOT NULL
        """;

    public static async Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(NpgsqlDataSource dataSource, string walletId,
        IReadOnlyCollection<string> keys, bool lean, CancellationToken ct)
    {
        var found = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        if (keys.Count == 0) return found;
        await using var cmd = dataSource.CreateCommand(
            "SELECT idempotency_key, fingerprint, seq, amount, balance_after, lot_id, refusal_code, refusal_detail FROM qubrid_idempotency " +
            $"WHERE wallet_id = $1 AND idempotency_key = ANY($2) {(lean ? InlineOutcomes : "")}");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = keys.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var outcome = new StoredOutcome(reader.GetString(0), reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetInt64(2), new Micros(reader.GetInt64(3)),
                new Micros(reader.GetInt64(4)), reader.IsDBNull(5) ? null : reader.GetInt64(5),
                reader.IsDBNull(6) ? WalletOpStatus.Applied : WalletOpStatus.InsufficientCredits, NullableString(reader, 6), NullableString(reader, 7));
            found[outcome.Key] = outcome;
        }
        return found;
    }

    public static async Task<LedgerPage> ReadPageAsync(NpgsqlDataSource dataSource, string walletId, LedgerQuery query, bool lean, CancellationToken ct)
    {
        int limit = Math.Clamp(query.Limit, 1, LedgerQuery.MaxLimit);
        await using var cmd = PageCommand(dataSource, walletId, query, limit + 1, lean);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var items = new List<LedgerEntryView>();
        while (await reader.ReadAsync(ct))
        {
            var lotIds = reader.GetFieldValue<long[]>(11);
            var lotAmounts = reader.GetFieldValue<long[]>(12);
            UsageTags? usage = reader.IsDBNull(7) && reader.IsDBNull(8) && reader.IsDBNull(9) && reader.IsDBNull(10) && reader.IsDBNull(13) && reader.IsDBNull(14)
                ? null
                : new UsageTags(NullableString(reader, 7), NullableString(reader, 8), NullableString(reader, 9), NullableString(reader, 10),
                    NullableString(reader, 13), NullableString(reader, 14));
            items.Add(new LedgerEntryView(
                reader.GetInt64(0),
                new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero),
                LedgerKinds.Parse(reader.GetString(2)),
                new Micros(reader.GetInt64(3)),
                new Micros(reader.GetInt64(4)),
                lotIds.Zip(lotAmounts, (id, amount) => new LotMovement(id, new Micros(amount))).ToArray(),
                reader.GetString(5),
                NullableString(reader, 6),
                usage));
        }
        long? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(items.Count - 1);
            next = items[^1].Seq;
        }
        return new LedgerPage(items, next);
    }

    /// <summary>
    /// A page of a wallet's ledger, newest first: the query (with its parameters) that <see cref="ReadPageAsync"/> runs, and that
    /// the tests EXPLAIN to see that a kind filter or a date range uses an index (qubrid_ledger_kind, qubrid_ledger_at).
    /// </summary>
    public static NpgsqlCommand PageCommand(NpgsqlDataSource dataSource, string walletId, LedgerQuery query, int rows, bool lean)
    {
        string ids = "(SELECT coalesce(array_agg(m.lot_id ORDER BY m.lot_id), '{}') FROM qubrid_ledger_lots m WHERE m.wallet_id = e.wallet_id AND m.seq = e.seq)";
        string amounts = "(SELECT coalesce(array_agg(m.amount ORDER BY m.lot_id), '{}') FROM qubrid_ledger_lots m WHERE m.wallet_id = e.wallet_id AND m.seq = e.seq)";
        if (lean)
        {
            ids = $"CASE WHEN e.lot_id IS NOT NULL THEN ARRAY[e.lot_id] ELSE {ids} END";
            amounts = $"CASE WHEN e.lot_id IS NOT NULL THEN ARRAY[e.amount] ELSE {amounts} END";
        }
        var cmd = dataSource.CreateCommand(
            $"""
            SELECT e.seq, e.at, e.kind, e.amount, e.balance_after, e.reference, e.idempotency_key, e.session_id, e.instance_type, e.model, e.workload,
                   {ids},
                   {amounts},
                   {(lean ? "e.member_id, e.project_id" : "NULL::text, NULL::text")}
            FROM qubrid_ledger e
            WHERE e.wallet_id = $1
              AND ($2::text[] IS NULL OR e.kind = ANY($2))
              AND ($3::timestamptz IS NULL OR e.at >= $3)
              AND ($4::timestamptz IS NULL OR e.at < $4)
              AND ($5::bigint IS NULL OR e.seq < $5)
            ORDER BY e.seq DESC
            LIMIT $6
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter
        {
            Value = query.Kinds is { Count: > 0 } kinds ? kinds.Select(k => k.ToWire()).ToArray() : DBNull.Value,
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text,
        });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.From is { } from ? from.UtcDateTime : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.To is { } to ? to.UtcDateTime : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.Before is { } before ? before : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = rows });
        return cmd;
    }

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
}
