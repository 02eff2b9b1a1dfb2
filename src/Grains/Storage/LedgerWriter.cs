using System.Data;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Npgsql;
using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>One wallet's decided batch, waiting for the ledger writer.</summary>
internal sealed class WalletCommit(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes, DateTimeOffset now)
{
    public WalletBook Book { get; } = book;
    public BookChanges Changes { get; } = changes;
    public IReadOnlyList<StoredOutcome> Outcomes { get; } = outcomes;
    public DateTimeOffset Now { get; } = now;
    public long HandedOver { get; } = Stopwatch.GetTimestamp();
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
    private readonly int _maxQueued;
    private readonly ILogger _logger;
    private readonly Channel<WalletCommit> _queue;
    private readonly Task[] _loops;
    private readonly LedgerShapeGate _gate;

    /// <summary>The cluster version gate this writer follows; the store's reads follow it too.</summary>
    public LedgerShapeGate Gate => _gate;
    private volatile bool _stopped;

    public LedgerWriter(NpgsqlDataSource dataSource, LedgerOptions options, ILogger logger)
    {
        _dataSource = dataSource;
        _maxWallets = options.MaxWalletsPerCommit;
        _maxQueued = options.MaxQueuedBatches;
        _logger = logger;
        _gate = new LedgerShapeGate(dataSource, options.ClusterVersionRefresh);
        _queue = Channel.CreateBounded<WalletCommit>(new BoundedChannelOptions(_maxQueued) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });
        _loops = Enumerable.Range(0, options.Writers).Select(_ => Task.Run(WriteLoopAsync)).ToArray();
    }

    /// <summary>
    /// Completes with the wallet's new version once its batch is durable; faults with the reason otherwise. Throws
    /// <see cref="WalletBusyException"/> (503 wallet_busy, nothing queued) when <see cref="LedgerOptions.MaxQueuedBatches"/> are waiting.
    /// </summary>
    public Task<long> CommitAsync(WalletCommit commit)
    {
        if (_queue.Writer.TryWrite(commit)) return commit.Completion.Task;
        if (_stopped) throw new ObjectDisposedException(nameof(LedgerWriter), "The ledger writer has stopped.");
        throw new WalletBusyException($"The ledger writer has {_maxQueued} wallet batches waiting; try again.");
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
            foreach (var c in batch) BillingMetrics.WriterWaitMicros.Record((long)Stopwatch.GetElapsedTime(c.HandedOver).TotalMicroseconds);
            try
            {
                // A connection that sat idle may have been closed under us (a database restart): check it before a commit
                // is sent on it, so that the commit does not fail for nothing. Under load a connection is never idle this long.
                if (connection is not null && Stopwatch.GetElapsedTime(lastUsed) > IdleCheckAfter && !await IsAliveAsync(connection))
                {
                    await DisposeQuietlyAsync(connection);
                    connection = null;
                    ForgetServers(); // what broke this one (a database restart, a failover) broke the pool's idle ones too
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
            // A connection the server closed (a fatal error, a lost socket) is replaced before the next batch; so is one
            // to a server that can no longer write (a primary demoted to standby after a failover): every later batch on
            // it would fail the same way, while a new connection finds the new primary.
            if (connection is not null && (connection.FullState != ConnectionState.Open || batch.Any(c => RefusedAsNotWritable(c.Completion.Task))))
            {
                await DisposeQuietlyAsync(connection);
                connection = null;
                ForgetServers(); // so that the replacement is a new connection to the current primary, not another stale idle one
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
        catch (Exception e) when (batch.Count > 1 && WroteNothing(e, connection) && !IsNotWritable(e))
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

    /// <summary>
    /// The server took the connection but cannot write: a standby, or a former primary that came back read-only
    /// (SQLSTATE 25006). No batch can succeed there; all of them fail (503, retried by their idempotency keys).
    /// </summary>
    internal static bool IsNotWritable(Exception e) => e is PostgresException { SqlState: PostgresErrorCodes.ReadOnlySqlTransaction };

    private static bool RefusedAsNotWritable(Task task) => task.IsFaulted && task.Exception?.InnerException is { } e && IsNotWritable(e);

    /// <summary>
    /// Drops the pool's idle connections and, with several hosts (<c>Host=a,b;Target Session Attributes=primary</c>),
    /// what it believes about which one is the primary, so that the next connection looks for the primary again.
    /// </summary>
    private void ForgetServers()
    {
        _dataSource.Clear();
        if (_dataSource is NpgsqlMultiHostDataSource hosts) hosts.ClearDatabaseStates();
    }

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

    private async Task ExecuteAsync(NpgsqlConnection connection, IReadOnlyList<WalletCommit> commits)
    {
        var shape = await _gate.CurrentAsync();
        await using var batch = new NpgsqlBatch(connection);
        CommitStatements.AddTo(batch, commits, shape);
        await batch.ExecuteNonQueryAsync();
    }

    private static Exception Translate(PostgresException e, WalletCommit commit)
    {
        string walletId = commit.Book.WalletId;
        if (e.SqlState == CommitStatements.VersionMoved) return new WalletConcurrencyException(walletId);
        if (e.SqlState == CommitStatements.KeyTaken) return new IdempotencyKeyTakenException(walletId);
        if (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return e.ConstraintName is "qubrid_idempotency_pkey" or "qubrid_ledger_idempotency"
                ? new IdempotencyKeyTakenException(walletId)
                : new WalletConcurrencyException(walletId); // its seqs, lots or the wallet itself were written by another activation
        }
        return e;
    }

    public async ValueTask DisposeAsync()
    {
        _stopped = true;
        _queue.Writer.TryComplete();
        await Task.WhenAll(_loops);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "A ledger transaction of {Wallets} wallets was refused; writing each wallet alone")]
    private static partial void LogWritingAlone(ILogger logger, Exception exception, int wallets);
}
