using System.Data;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>One wallet's decided batch, waiting for the ledger writer.</summary>
internal sealed class WalletCommit(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes, DateTimeOffset now)
{
    public WalletBook Book { get; } = book;
    public BookChanges Changes { get; } = changes;
    public IReadOnlyList<StoredOutcome> Outcomes { get; } = outcomes;
    public DateTimeOffset Now { get; } = now;
    public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// The silo's ledger writer: group commit across wallets. Each wallet grain hands over one batch at a
/// time; a few writer loops, each on its own connection, take whatever batches are waiting (up to
/// <see cref="LedgerOptions.MaxWalletsPerCommit"/>) and write them with one round trip: every statement
/// of the batch goes in one implicit transaction, which PostgreSQL commits only if none fails. When
/// one wallet's batch is refused (its version moved, an idempotency key was already taken) the whole
/// transaction wrote nothing, and each batch is written again on its own so that only the refused one fails.
/// Only a lost connection fails every batch of a transaction: then nobody knows whether it committed.
/// </summary>
internal sealed partial class LedgerWriter : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly int _maxWallets;
    private readonly ILogger _logger;
    private readonly Channel<WalletCommit> _queue = Channel.CreateUnbounded<WalletCommit>(new UnboundedChannelOptions { SingleReader = false });
    private readonly Task[] _loops;

    public LedgerWriter(NpgsqlDataSource dataSource, LedgerOptions options, ILogger logger)
    {
        _dataSource = dataSource;
        _maxWallets = options.MaxWalletsPerCommit;
        _logger = logger;
        _loops = Enumerable.Range(0, options.Writers).Select(_ => Task.Run(WriteLoopAsync)).ToArray();
    }

    /// <summary>Completes with the wallet's new version once its batch is durable; faults with the reason otherwise.</summary>
    public Task<long> CommitAsync(WalletCommit commit)
    {
        if (!_queue.Writer.TryWrite(commit)) throw new ObjectDisposedException(nameof(LedgerWriter), "The ledger writer has stopped.");
        return commit.Completion.Task;
    }

    /// <summary>Writes these batches in one transaction attempt, exactly as a writer loop would; lets a test choose what shares a transaction.</summary>
    internal async Task WriteTogetherAsync(IReadOnlyList<WalletCommit> commits)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await WriteAsync(connection, commits.ToList());
    }

    private async Task WriteLoopAsync()
    {
        NpgsqlConnection? connection = null;
        long lastUsed = 0;
        var batch = new List<WalletCommit>(_maxWallets);
        while (await _queue.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _maxWallets && _queue.Reader.TryRead(out var next)) batch.Add(next);
            if (batch.Count == 0) continue;
            try
            {
                // A connection that sat idle may have been closed under us (a database restart): check it before a commit
                // is sent on it, so that the commit does not fail for nothing. Under load a connection is never idle this long.
                if (connection is not null && Stopwatch.GetElapsedTime(lastUsed) > IdleCheckAfter && !await IsAliveAsync(connection))
                {
                    await DisposeQuietlyAsync(connection);
                    connection = null;
                }
                connection ??= await _dataSource.OpenConnectionAsync();
                lastUsed = Stopwatch.GetTimestamp();
                await WriteAsync(connection, batch);
            }
            catch (Exception e)
            {
                // Perhaps the connection was lost mid-transaction: nobody knows whether it committed, so every
                // wallet of it fails and reloads from the tables.
                foreach (var c in batch) c.Completion.TrySetException(e);
            }
            // A connection the server closed (a fatal error, a lost socket) is replaced before the next batch.
            if (connection is not null && connection.FullState != ConnectionState.Open)
            {
                await DisposeQuietlyAsync(connection);
                connection = null;
            }
        }
        if (connection is not null) await DisposeQuietlyAsync(connection);
    }

    private async Task WriteAsync(NpgsqlConnection connection, List<WalletCommit> batch)
    {
        long started = Stopwatch.GetTimestamp();
        try
        {
            await ExecuteAsync(connection, batch);
            Completed(batch, started);
            return;
        }
        catch (Exception e) when (batch.Count > 1 && WroteNothing(e, connection))
        {
            // Nothing of this transaction was written; write each batch alone so that only a bad one fails.
            LogWritingAlone(_logger, e, batch.Count);
        }
        catch (PostgresException e)
        {
            foreach (var c in batch) c.Completion.TrySetException(Translate(e, c));
            return;
        }
        foreach (var c in batch)
        {
            try
            {
                started = Stopwatch.GetTimestamp();
                await ExecuteAsync(connection, [c]);
                Completed([c], started);
            }
            catch (Exception e) when (WroteNothing(e, connection))
            {
                c.Completion.TrySetException(e is PostgresException pg ? Translate(pg, c) : e);
            }
        }
    }

    private static readonly TimeSpan IdleCheckAfter = TimeSpan.FromSeconds(1);

    private static async Task<bool> IsAliveAsync(NpgsqlConnection connection)
    {
        try
        {
            await using var ping = new NpgsqlCommand("SELECT 1", connection);
            await ping.ExecuteScalarAsync();
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or System.IO.IOException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether a failed attempt certainly wrote nothing: the server refused a statement (the implicit
    /// transaction rolled back) or this process failed before sending; not when the connection was lost.
    /// </summary>
    private static bool WroteNothing(Exception e, NpgsqlConnection connection) =>
        connection.FullState == ConnectionState.Open
        && (e is PostgresException || e is not (NpgsqlException or OperationCanceledException or TimeoutException));

    private static async Task DisposeQuietlyAsync(NpgsqlConnection connection)
    {
        try
        {
            await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // A broken connection may fail to close; it is gone either way.
        }
    }

    private static void Completed(List<WalletCommit> batch, long started)
    {
        BillingMetrics.TransactionMicros.Record((long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        BillingMetrics.TransactionWallets.Record(batch.Count);
        foreach (var c in batch) c.Completion.TrySetResult(c.Book.Version + 1);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, IReadOnlyList<WalletCommit> commits)
    {
        await using var batch = new NpgsqlBatch(connection);
        CommitStatements.AddTo(batch, commits);
        await batch.ExecuteNonQueryAsync();
    }

    private static Exception Translate(PostgresException e, WalletCommit commit)
    {
        string walletId = commit.Book.WalletId;
        if (e.SqlState == CommitStatements.VersionMoved) return new WalletConcurrencyException(walletId);
        if (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return e.ConstraintName == "qubrid_idempotency_pkey"
                ? new IdempotencyKeyTakenException(walletId)
                : new WalletConcurrencyException(walletId); // its seqs, lots or the wallet itself were written by another activation
        }
        return e;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_loops);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A ledger transaction of {Wallets} wallets was refused; writing each wallet alone")]
    private static partial void LogWritingAlone(ILogger logger, Exception exception, int wallets);
}

/// <summary>The statements of one ledger transaction over any number of wallets' batches, one per table, rows passed as arrays.</summary>
internal static class CommitStatements
{
    /// <summary>SQLSTATE raised by qubrid_expect_rows (migration 0005) when a wallet's version moved.</summary>
    public const string VersionMoved = "QB001";

    public static void AddTo(NpgsqlBatch batch, IReadOnlyList<WalletCommit> commits)
    {
        var created = new Columns(typeof(string), typeof(DateTime), typeof(long), typeof(long), typeof(bool));
        var moved = new Columns(typeof(string), typeof(long), typeof(long), typeof(long), typeof(bool));
        var newLots = new Columns(typeof(string), typeof(long), typeof(string), typeof(long), typeof(long), typeof(DateTime), typeof(DateTime), typeof(string));
        var lotRemaining = new Columns(typeof(string), typeof(long), typeof(long));
        var entries = new Columns(typeof(string), typeof(long), typeof(DateTime), typeof(string), typeof(long), typeof(long), typeof(string), typeof(string), typeof(string), typeof(string), typeof(string), typeof(string));
        var moves = new Columns(typeof(string), typeof(long), typeof(long), typeof(long));
        var sessions = new Columns(typeof(string), typeof(string), typeof(string), typeof(string), typeof(decimal), typeof(DateTime), typeof(string), typeof(DateTime), typeof(long), typeof(string), typeof(DateTime));
        var carry = new Columns(typeof(string), typeof(string), typeof(decimal));
        var events = new Columns(typeof(DateTime), typeof(string), typeof(string), typeof(string), typeof(string), typeof(long), typeof(long));
        var outcomes = new Columns(typeof(string), typeof(string), typeof(string), typeof(long), typeof(long), typeof(long), typeof(long), typeof(DateTime));

        foreach (var commit in commits)
        {
            var book = commit.Book;
            var changes = commit.Changes;
            string walletId = book.WalletId;
            if (book.Version == 0)
                created.Add(walletId, commit.Now.UtcDateTime, book.Balance.Value, book.NextSeq, book.LowBalanceNotified);
            else
                moved.Add(walletId, book.Balance.Value, book.NextSeq, book.Version, book.LowBalanceNotified);

            var newLotIds = new HashSet<long>();
            foreach (var lot in changes.NewLots)
            {
                newLotIds.Add(lot.Id);
                newLots.Add(walletId, lot.Id, lot.Kind.ToWire(), lot.Amount.Value, book.RemainingOf(lot.Id).Value, lot.GrantedAt.UtcDateTime,
                    lot.ExpiresAt?.UtcDateTime, lot.Source);
            }
            foreach (var lotId in changes.TouchedLots)
            {
                if (!newLotIds.Contains(lotId)) lotRemaining.Add(walletId, lotId, book.RemainingOf(lotId).Value);
            }
            foreach (var e in changes.Entries)
            {
                entries.Add(walletId, e.Seq, e.At.UtcDateTime, e.Kind.ToWire(), e.Amount.Value, e.BalanceAfter.Value, e.Reference, e.IdempotencyKey,
                    e.Usage?.SessionId, e.Usage?.InstanceType, e.Usage?.Model, e.Usage?.Workload);
                foreach (var m in e.Lots) moves.Add(walletId, e.Seq, m.LotId, m.Amount.Value);
            }
            foreach (var s in changes.Sessions.Values)
            {
                sessions.Add(walletId, s.SessionId, s.InstanceType, s.Workload, s.UsdPerHour, s.StartedAt.UtcDateTime, s.State.ToWire(),
                    s.StoppedAt?.UtcDateTime, s.Charged.Value, s.EndReason, s.ChargedThrough?.UtcDateTime);
            }
            foreach (var (model, micros) in changes.InferenceCarry) carry.Add(walletId, model, micros);
            foreach (var ev in changes.Events)
                events.Add(ev.At.UtcDateTime, ev.Kind, walletId, ev.SessionId, ev.Reason, ev.Balance.Value, ev.RunwaySeconds);
            foreach (var o in commit.Outcomes)
                outcomes.Add(walletId, o.Key, o.Fingerprint, o.Seq, o.Amount.Value, o.BalanceAfter.Value, o.LotId, commit.Now.UtcDateTime);
        }

        if (created.Rows > 0)
        {
            batch.BatchCommands.Add(created.Command(
                """
                INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version, low_balance_notified)
                SELECT u.wallet_id, u.created_at, u.balance, u.next_seq, 1, u.low
                FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::boolean[]) AS u(wallet_id, created_at, balance, next_seq, low)
                """));
        }
        if (moved.Rows > 0)
        {
            // The optimistic check: every wallet must still be at the version its batch was decided on.
            // "= ANY($1)" lets the planner find the rows by primary key instead of hashing the whole table.
            batch.BatchCommands.Add(moved.Command(
                """
                WITH moved AS (
                    UPDATE qubrid_wallets w
                    SET balance = u.balance, next_seq = u.next_seq, low_balance_notified = u.low, version = w.version + 1
                    FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::boolean[]) AS u(wallet_id, balance, next_seq, version, low)
                    WHERE w.wallet_id = ANY($1) AND w.wallet_id = u.wallet_id AND w.version = u.version
                    RETURNING 1)
                SELECT qubrid_expect_rows('qubrid_wallets', (SELECT count(*) FROM moved), cardinality($1::text[]))
                """));
        }
        if (newLots.Rows > 0)
        {
            batch.BatchCommands.Add(newLots.Command(
                """
                INSERT INTO qubrid_lots (wallet_id, lot_id, kind, amount, remaining, granted_at, expires_at, source)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[], $8::text[])
                """));
        }
        if (lotRemaining.Rows > 0)
        {
            batch.BatchCommands.Add(lotRemaining.Command(
                """
                UPDATE qubrid_lots l SET remaining = u.remaining
                FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(wallet_id, lot_id, remaining)
                WHERE l.wallet_id = ANY($1) AND l.wallet_id = u.wallet_id AND l.lot_id = u.lot_id
                """));
        }
        if (entries.Rows > 0)
        {
            batch.BatchCommands.Add(entries.Command(
                """
                INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference, idempotency_key, session_id, instance_type, model, workload)
                SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                """));
        }
        if (moves.Rows > 0)
        {
            batch.BatchCommands.Add(moves.Command(
                "INSERT INTO qubrid_ledger_lots (wallet_id, seq, lot_id, amount) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])"));
        }
        if (sessions.Rows > 0)
        {
            batch.BatchCommands.Add(sessions.Command(
                """
                INSERT INTO qubrid_wallet_sessions (wallet_id, session_id, instance_type, workload, usd_per_hour, started_at, state, stopped_at, charged, end_reason, charged_through)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[], $7::text[], $8::timestamptz[], $9::bigint[], $10::text[], $11::timestamptz[])
                ON CONFLICT (wallet_id, session_id) DO UPDATE
                SET state = EXCLUDED.state, stopped_at = EXCLUDED.stopped_at, charged = EXCLUDED.charged, end_reason = EXCLUDED.end_reason,
                    charged_through = EXCLUDED.charged_through
                """));
        }
        if (carry.Rows > 0)
        {
            batch.BatchCommands.Add(carry.Command(
                """
                INSERT INTO qubrid_inference_carry (wallet_id, model, carry_micros)
                SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
                ON CONFLICT (wallet_id, model) DO UPDATE SET carry_micros = EXCLUDED.carry_micros
                """));
        }
        if (events.Rows > 0)
        {
            // Event ids must follow commit order so that a reader's cursor never skips one: event-writing
            // transactions (rare) take this lock before drawing ids and hold it until they commit.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(81770001)"));
            batch.BatchCommands.Add(events.Command(
                """
                INSERT INTO qubrid_events (at, kind, wallet_id, session_id, reason, balance, runway_seconds)
                SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])
                """));
        }
        if (outcomes.Rows > 0)
        {
            batch.BatchCommands.Add(outcomes.Command(
                """
                INSERT INTO qubrid_idempotency (wallet_id, idempotency_key, fingerprint, seq, amount, balance_after, lot_id, created_at)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::timestamptz[])
                """));
        }
    }

    /// <summary>Rows gathered column by column; each column becomes one typed array parameter (nulls allowed).</summary>
    private sealed class Columns(params Type[] types)
    {
        private readonly List<object?>[] _columns = types.Select(_ => new List<object?>()).ToArray();

        public int Rows => _columns[0].Count;

        public void Add(params object?[] row)
        {
            Debug.Assert(row.Length == _columns.Length);
            for (int i = 0; i < row.Length; i++) _columns[i].Add(row[i]);
        }

        public NpgsqlBatchCommand Command(string sql)
        {
            var command = new NpgsqlBatchCommand(sql);
            for (int c = 0; c < _columns.Length; c++)
            {
                var type = types[c].IsValueType ? typeof(Nullable<>).MakeGenericType(types[c]) : types[c];
                var array = Array.CreateInstance(type, _columns[c].Count);
                for (int i = 0; i < _columns[c].Count; i++) array.SetValue(_columns[c][i], i);
                var parameter = new NpgsqlParameter { Value = array };
                if (types[c] == typeof(DateTime)) parameter.NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz;
                command.Parameters.Add(parameter);
            }
            return command;
        }
    }
}
