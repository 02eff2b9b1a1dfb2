using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>Raised when the wallet row moved under us: another activation wrote first. The grain reloads.</summary>
public sealed class WalletConcurrencyException(string walletId)
    : Exception($"Wallet '{walletId}' was written by someone else; its state must be reloaded.");

/// <summary>Raised when an idempotency key of the batch is already recorded (a retry the wallet did not remember): the grain looks it up and decides again.</summary>
public sealed class IdempotencyKeyTakenException(string walletId)
    : Exception($"Wallet '{walletId}': an idempotency key of the batch is already recorded.");

/// <summary>
/// Reads and writes the ledger tables with Npgsql. A commit writes a whole batch (entries, lot
/// movements, lots, balance, idempotency records) in one transaction, checking the wallet's version.
/// </summary>
public sealed partial class LedgerStore(NpgsqlDataSource dataSource, IOptions<LedgerOptions> options, ILogger<LedgerStore> logger) : ILedgerStore, IAsyncDisposable
{
    private static readonly string[] UsageKindsWire = LedgerKinds.UsageKinds.ToWire();

    private readonly LedgerWriter _writer = new(dataSource, options.Value, logger);

    /// <summary>Loads the wallet with its open lots and running sessions, all from one snapshot, or null when it was never created.</summary>
    public Task<WalletBook?> LoadAsync(string walletId, DateTimeOffset now, CancellationToken ct = default) =>
        ReadAsync(() => LoadAsyncOnce(walletId, now, ct));

    private const string SelectHolds = "SELECT hold_no, amount, captured, state, created_at, expires_at, reference FROM qubrid_holds";

    private async Task<WalletBook?> LoadAsyncOnce(string walletId, DateTimeOffset now, CancellationToken ct)
    {
        var tally = SpendTally.Empty(now);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        bool refundTables = await HasRefundTablesAsync(conn, ct); // not before migration 0061 (a silo of this release on the previous schema)
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        await using var batch = new NpgsqlBatch(conn, tx);
        batch.BatchCommands.Add(Command("SELECT balance, next_seq, version, low_balance_notified FROM qubrid_wallets WHERE wallet_id = $1", walletId));
        batch.BatchCommands.Add(Command(
            "SELECT lot_id, kind, amount, remaining, granted_at, expires_at, source, expiry_notices, scope::text FROM qubrid_lots WHERE wallet_id = $1 AND open",
            walletId));
        batch.BatchCommands.Add(Command($"{SelectSessions} WHERE wallet_id = $1 AND state = 'running'", walletId));
        batch.BatchCommands.Add(Command("SELECT model, carry_micros FROM qubrid_inference_carry WHERE wallet_id = $1", walletId));
        batch.BatchCommands.Add(Command($"{SelectHolds} WHERE wallet_id = $1 AND state = 'active'", walletId));
        batch.BatchCommands.Add(Command("SELECT coalesce(max(hold_no), 0) + 1 FROM qubrid_holds WHERE wallet_id = $1", walletId));
        batch.BatchCommands.Add(Command(
            """
            SELECT owner_per_hour, owner_per_day, owner_per_month, admin_per_hour, admin_per_day, admin_per_month,
                   warned_hour, warned_day, warned_month, reached_hour, reached_day, reached_month,
                   auto_enabled, auto_threshold, auto_target, auto_token, auto_monthly_cap, auto_month_start, auto_spent_month,
                   auto_failures, auto_disabled_reason, auto_next_attempt, auto_in_flight, auto_in_flight_amount, auto_retry_at
            FROM qubrid_wallet_controls WHERE wallet_id = $1
            """, walletId));
        // What spending entries took in the current hour, day and month (by their at), for the limits.
        batch.BatchCommands.Add(Command(
            """
            SELECT coalesce(sum(-amount) FILTER (WHERE at >= $2), 0)::bigint, coalesce(sum(-amount) FILTER (WHERE at >= $3), 0)::bigint,
                   coalesce(sum(-amount), 0)::bigint
            FROM qubrid_ledger
            WHERE wallet_id = $1 AND at >= $4 AND kind = ANY($5)
            """, walletId, tally.HourStart.UtcDateTime, tally.DayStart.UtcDateTime, tally.MonthStart.UtcDateTime, SpendPeriods.SpendingKindsWire));
        if (refundTables) batch.BatchCommands.Add(Command($"{SelectPendingRefunds} WHERE wallet_id = $1 AND status = 'pending'", walletId));
        await using var reader = await batch.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        var balance = new Micros(reader.GetInt64(0));
        long nextSeq = reader.GetInt64(1);
        long version = reader.GetInt64(2);
        bool lowBalanceNotified = reader.GetBoolean(3);
        await reader.NextResultAsync(ct);
        var lots = new List<CreditLot>();
        while (await reader.ReadAsync(ct)) lots.Add(ReadLot(reader));
        await reader.NextResultAsync(ct);
        var sessions = new List<SessionView>();
        while (await reader.ReadAsync(ct)) sessions.Add(ReadSession(reader));
        await reader.NextResultAsync(ct);
        var carry = new List<KeyValuePair<string, decimal>>();
        while (await reader.ReadAsync(ct)) carry.Add(new(reader.GetString(0), reader.GetDecimal(1)));
        await reader.NextResultAsync(ct);
        var holds = new List<Hold>();
        while (await reader.ReadAsync(ct)) holds.Add(ReadHold(reader));
        await reader.NextResultAsync(ct);
        await reader.ReadAsync(ct);
        long nextHold = reader.GetInt64(0);
        await reader.NextResultAsync(ct);
        var (limits, auto) = await reader.ReadAsync(ct) ? ReadControls(reader) : (LimitSettings.None, AutoTopupState.Off);
        await reader.NextResultAsync(ct);
        await reader.ReadAsync(ct);
        tally = tally with { Hour = new Micros(reader.GetInt64(0)), Day = new Micros(reader.GetInt64(1)), Month = new Micros(reader.GetInt64(2)) };
        var refunds = refundTables ? await ReadPendingRefundsAsync(reader, ct) : [];
        await reader.DisposeAsync();
        await tx.CommitAsync(ct);
        return WithRefunds(new WalletBook(walletId, balance, nextSeq, version, lots, sessions, lowBalanceNotified, carry,
            new WalletControls(holds, nextHold, limits, tally, auto)), refunds);
    }

    /// <summary>The wallet's row of <c>qubrid_wallet_controls</c>: its spending limits and its auto top-up.</summary>
    private static (LimitSettings Limits, AutoTopupState AutoTopup) ReadControls(NpgsqlDataReader reader)
    {
        Micros? M(int i) => reader.IsDBNull(i) ? null : new Micros(reader.GetInt64(i));
        DateTimeOffset? T(int i) => reader.IsDBNull(i) ? null : new DateTimeOffset(reader.GetDateTime(i), TimeSpan.Zero);
        var limits = new LimitSettings(new SpendLimits(M(0), M(1), M(2)), new SpendLimits(M(3), M(4), M(5)),
            new PeriodMarks(T(6), T(7), T(8)), new PeriodMarks(T(9), T(10), T(11)));
        var auto = new AutoTopupState(reader.GetBoolean(12), new Micros(reader.GetInt64(13)), new Micros(reader.GetInt64(14)), NullableString(reader, 15),
            new Micros(reader.GetInt64(16)), T(17), new Micros(reader.GetInt64(18)), reader.GetInt32(19), NullableString(reader, 20),
            reader.GetInt64(21), reader.IsDBNull(22) ? null : reader.GetInt64(22), new Micros(reader.GetInt64(23)), T(24));
        return (limits, auto);
    }

    public Task<Hold?> FindHoldAsync(string walletId, long number, CancellationToken ct = default) =>
        ReadAsync(async () =>
        {
            await using var cmd = dataSource.CreateCommand($"{SelectHolds} WHERE wallet_id = $1 AND hold_no = $2");
            cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = number });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            return await reader.ReadAsync(ct) ? ReadHold(reader) : null;
        });

    private static Hold ReadHold(NpgsqlDataReader reader) => new(reader.GetInt64(0), new Micros(reader.GetInt64(1)), new Micros(reader.GetInt64(2)),
        HoldIds.ParseState(reader.GetString(3)), new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero),
        new DateTimeOffset(reader.GetDateTime(5), TimeSpan.Zero), reader.GetString(6));

    private const string SelectSessions =
        "SELECT wallet_id, session_id, instance_type, workload, usd_per_hour, started_at, state, stopped_at, charged, end_reason, charged_through FROM qubrid_wallet_sessions";

    public Task<List<SessionView>> FindSessionsAsync(string walletId, IReadOnlyCollection<string> sessionIds, CancellationToken ct = default) =>
        ReadAsync(() => FindSessionsAsyncOnce(walletId, sessionIds, ct));

    private async Task<List<SessionView>> FindSessionsAsyncOnce(string walletId, IReadOnlyCollection<string> sessionIds, CancellationToken ct)
    {
        var found = new List<SessionView>();
        if (sessionIds.Count == 0) return found;
        await using var cmd = dataSource.CreateCommand($"{SelectSessions} WHERE wallet_id = $1 AND session_id = ANY($2)");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = sessionIds.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) found.Add(ReadSession(reader));
        return found;
    }

    private static SessionView ReadSession(NpgsqlDataReader reader) => new(
        reader.GetString(1),
        reader.GetString(0),
        reader.GetString(2),
        reader.GetString(3),
        reader.GetDecimal(4) / 1.000000000000000000000000000000000m, // numeric(18,6) reads back as 21.840000: the same rate, shown as it was set (21.84)
        new DateTimeOffset(reader.GetDateTime(5), TimeSpan.Zero),
        SessionStates.TryParse(reader.GetString(6), out var state) ? state : throw new FormatException($"Unknown session state '{reader.GetString(6)}'."),
        reader.IsDBNull(7) ? null : new DateTimeOffset(reader.GetDateTime(7), TimeSpan.Zero),
        new Micros(reader.GetInt64(8)),
        NullableString(reader, 9),
        reader.IsDBNull(10) ? null : new DateTimeOffset(reader.GetDateTime(10), TimeSpan.Zero));

    /// <summary>Sessions newest first (by start, then wallet and session id), optionally of one wallet and in one state.</summary>
    public Task<SessionPage> ListSessionsAsync(SessionQuery query, CancellationToken ct = default) =>
        ReadAsync(() => ListSessionsAsyncOnce(query, ct));

    private async Task<SessionPage> ListSessionsAsyncOnce(SessionQuery query, CancellationToken ct)
    {
        int limit = Math.Clamp(query.Limit, 1, SessionQuery.MaxLimit);
        await using var cmd = dataSource.CreateCommand(
            $$"""
            {{SelectSessions}}
            WHERE ($1::text IS NULL OR wallet_id = $1)
              AND ($2::text IS NULL OR state = $2)
              AND ($3::timestamptz IS NULL OR (started_at, wallet_id, session_id) < ($3, $4, $5))
            ORDER BY started_at DESC, wallet_id DESC, session_id DESC
            LIMIT $6
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)query.UserId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.State is { } state ? state.ToWire() : DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.After is { } a ? a.StartedAt.UtcDateTime : DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)query.After?.UserId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)query.After?.SessionId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var items = new List<SessionView>();
        while (await reader.ReadAsync(ct)) items.Add(ReadSession(reader));
        SessionCursor? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(items.Count - 1);
            var last = items[^1];
            next = new SessionCursor(last.StartedAt, last.UserId, last.SessionId);
        }
        return new SessionPage(items, next);
    }

    public Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(string walletId, IReadOnlyCollection<string> keys, CancellationToken ct = default) =>
        ReadAsync(async () => await LedgerReads.FindOutcomesAsync(dataSource, walletId, keys, await _writer.Gate.CurrentAsync() != LedgerRowShape.Previous, ct));

    /// <summary>
    /// Writes one batch atomically through the silo's <see cref="LedgerWriter"/>. <paramref name="book"/> holds
    /// the state after the batch; its <c>Version</c> is the version it was loaded with (0 for a wallet that
    /// does not exist yet). Returns the new version. Throws <see cref="WalletConcurrencyException"/> when the
    /// row moved and <see cref="IdempotencyKeyTakenException"/> when one of the outcomes' keys is already recorded.
    /// </summary>
    public Task<long> CommitAsync(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes,
        DateTimeOffset now, CancellationToken ct = default) =>
        _writer.CommitAsync(new WalletCommit(book, changes, outcomes, now));

    public ValueTask DisposeAsync() => _writer.DisposeAsync();

    public Task<IReadOnlyList<CreditLot>> ListLotsAsync(string walletId, int limit, CancellationToken ct = default) =>
        ReadAsync(() => ListLotsAsyncOnce(walletId, limit, ct));

    private async Task<IReadOnlyList<CreditLot>> ListLotsAsyncOnce(string walletId, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT lot_id, kind, amount, remaining, granted_at, expires_at, source, expiry_notices, scope::text FROM qubrid_lots WHERE wallet_id = $1 ORDER BY lot_id DESC LIMIT $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var lots = new List<CreditLot>();
        while (await reader.ReadAsync(ct)) lots.Add(ReadLot(reader));
        return lots;
    }

    /// <summary>A page of entries, newest first. Seqs only grow, so a "before seq" cursor is stable under inserts.</summary>
    public Task<LedgerPage> ReadLedgerAsync(string walletId, LedgerQuery query, CancellationToken ct = default) =>
        ReadAsync(async () => await LedgerReads.ReadPageAsync(dataSource, walletId, query, await _writer.Gate.CurrentAsync() != LedgerRowShape.Previous, ct));

    /// <summary>A page of a wallet's ledger, newest first (<see cref="LedgerReads.PageCommand"/>); the tests EXPLAIN it.</summary>
    internal static NpgsqlCommand LedgerPageCommand(NpgsqlDataSource dataSource, string walletId, LedgerQuery query, int rows, bool lean = true) =>
        LedgerReads.PageCommand(dataSource, walletId, query, rows, lean);

    public Task<IReadOnlyList<UsageRow>> ReadUsageAsync(string walletId, UsageQuery query, CancellationToken ct = default) =>
        ReadAsync(async () => await ReadUsageAsyncOnce(walletId, query, await _writer.Gate.CurrentAsync() != LedgerRowShape.Previous, ct));

    /// <summary>Whom usage was for (migration 0050) is read with the lean rows, which alone write it; before, no row names a member.</summary>
    private async Task<IReadOnlyList<UsageRow>> ReadUsageAsyncOnce(string walletId, UsageQuery query, bool lean, CancellationToken ct)
    {
        string member = lean ? "member_id" : "NULL::text";
        string project = lean ? "project_id" : "NULL::text";
        await using var cmd = dataSource.CreateCommand(
            $"""
            SELECT (date_trunc('day', at AT TIME ZONE 'UTC'))::date, kind, instance_type, model, workload, (-sum(amount))::bigint, count(*), {member}, {project}
            FROM qubrid_ledger
            WHERE wallet_id = $1 AND kind = ANY($4) AND at >= $2 AND at < $3 AND ($5::text IS NULL OR {member} = $5)
            GROUP BY 1, 2, 3, 4, 5, 8, 9
            ORDER BY 1, 2, 3, 4, 5, 8, 9
            LIMIT 100000
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = walletId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.From.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = query.To.UtcDateTime, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter { Value = UsageKindsWire, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)query.MemberId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<UsageRow>();
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new UsageRow(DateOnly.FromDateTime(reader.GetDateTime(0)), LedgerKinds.Parse(reader.GetString(1)),
                NullableString(reader, 2), NullableString(reader, 3), NullableString(reader, 4), new Micros(reader.GetInt64(5)), reader.GetInt64(6),
                NullableString(reader, 7), NullableString(reader, 8)));
        }
        return rows;
    }

    /// <summary>Events after <paramref name="afterId"/>, oldest first.</summary>
    public Task<IReadOnlyList<BillingEvent>> ReadEventsAsync(long afterId, int limit, CancellationToken ct = default) =>
        ReadAsync(() => ReadEventsAsyncOnce(afterId, limit, ct));

    private async Task<IReadOnlyList<BillingEvent>> ReadEventsAsyncOnce(long afterId, int limit, CancellationToken ct)
    {
        await using var cmd = dataSource.CreateCommand(
            "SELECT id, at, kind, wallet_id, session_id, reason, balance, runway_seconds, data::text FROM qubrid_events WHERE id > $1 ORDER BY id LIMIT $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = afterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Math.Clamp(limit, 1, 1000) });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var events = new List<BillingEvent>();
        while (await reader.ReadAsync(ct))
        {
            events.Add(new BillingEvent(reader.GetInt64(0), new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero), reader.GetString(2),
                reader.GetString(3), NullableString(reader, 4), NullableString(reader, 5), new Micros(reader.GetInt64(6)),
                reader.IsDBNull(7) ? null : reader.GetInt64(7), NullableString(reader, 8)));
        }
        return events;
    }

    /// <summary>
    /// Runs a read, once more on a fresh connection when the pooled one turned out to be broken (the database
    /// restarted under the pool): reads are safe to repeat, and the pool's idle connections are dropped with it.
    /// </summary>
    private async Task<T> ReadAsync<T>(Func<Task<T>> read)
    {
        try
        {
            return await read();
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            dataSource.Clear();
            return await read();
        }
    }

    private static string? NullableString(NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private static CreditLot ReadLot(NpgsqlDataReader reader) => new(
        reader.GetInt64(0),
        LedgerKinds.ParseLotKind(reader.GetString(1)),
        new Micros(reader.GetInt64(2)),
        new Micros(reader.GetInt64(3)),
        new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero),
        reader.IsDBNull(5) ? null : new DateTimeOffset(reader.GetDateTime(5), TimeSpan.Zero),
        reader.GetString(6),
        reader.GetInt16(7),
        CreditScopes.FromJson(NullableString(reader, 8)));

    private static NpgsqlBatchCommand Command(string sql, params object?[] args)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var arg in args) command.Parameters.Add(new NpgsqlParameter { Value = arg ?? DBNull.Value });
        return command;
    }
}
