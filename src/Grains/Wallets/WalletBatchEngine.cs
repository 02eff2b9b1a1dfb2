using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Qubrid.Core;
using Qubrid.Storage;

namespace Qubrid.Wallets;

/// <summary>What a wallet's batch engine asks of its wallet: storage, the decision's inputs, and the wallet's own work after a batch.</summary>
public interface IWalletBatchHost
{
    /// <summary>The wallet as stored, or null when it was never created.</summary>
    Task<WalletBook?> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>The recorded outcomes of these idempotency keys; a key never recorded is missing.</summary>
    Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(IReadOnlyCollection<string> keys);

    /// <summary>Decides a batch (<see cref="WalletBatch.Decide"/>), first reading back what it names that the book no longer keeps.</summary>
    Task<BatchDecision> DecideAsync(WalletBook? book, IReadOnlyList<WalletOperation> operations, Func<string, StoredOutcome?> knownOutcome,
        bool keysLookedUp, DateTimeOffset now);

    /// <summary>
    /// Writes a decided batch in one transaction and answers the wallet's new version. Throws
    /// <see cref="IdempotencyKeyTakenException"/> when a key of the batch is already recorded (nothing was written).
    /// </summary>
    Task<long> CommitAsync(BatchDecision decision, DateTimeOffset now);

    /// <summary>The engine holds a new book: after a reload (<paramref name="decision"/> null) or a decided batch.</summary>
    void Adopted(BatchDecision? decision);

    /// <summary>After a batch is durable and before its callers are answered (the wallet's expiry reminder).</summary>
    Task AfterCommitAsync();
}

/// <summary>
/// One wallet's batch engine (docs/design.md, the wallet grain and the ledger). Callers queue operations and await
/// their answers; one flush loop takes what queued up (up to <see cref="WalletOptions.MaxBatchSize"/>, or 1 without
/// group commit), decides it in arrival order, commits it through the host, runs the host's post-commit step and
/// only then answers each caller (R-LEDGER-3). After a failed commit the book is stale and reloaded before the next
/// batch. Not thread-safe: like the grain that owns it, it runs one turn at a time.
/// </summary>
public sealed partial class WalletBatchEngine(string walletId, IWalletBatchHost host, BillingClock clock, WalletOptions options, ILogger logger)
{
    private const int MaxDecideAttempts = 3;

    private readonly Queue<Pending> _queue = new();
    private readonly RecentOutcomes _recent = new(options.RecentOutcomeCacheSize);
    private Task? _flushing;

    /// <summary>The wallet as of the last commit, or null when it does not exist (or was not loaded yet).</summary>
    public WalletBook? Book { get; private set; }

    /// <summary>Whether the book may be behind the database (not loaded yet, or a commit failed): the next batch reloads it first.</summary>
    public bool IsStale { get; private set; } = true;

    /// <summary>Operations waiting for a batch (not those of the batch in flight).</summary>
    public int QueueLength => _queue.Count;

    /// <summary>Queues an operation; its answer comes once its batch is durable. A full queue throws <see cref="WalletBusyException"/> and queues nothing.</summary>
    public Task<OperationResult> Enqueue(WalletOperation operation)
    {
        if (_queue.Count >= options.MaxQueueLength)
            throw new WalletBusyException($"Wallet '{walletId}' has {_queue.Count} operations waiting; try again.");
        var pending = new Pending(operation);
        _queue.Enqueue(pending);
        _flushing ??= FlushLoopAsync();
        return pending.Completion.Task;
    }

    /// <summary>
    /// Completes once every operation queued so far (and any queued while it waits) has been committed or failed and its
    /// caller answered: the wallet's graceful deactivation (a silo draining on SIGTERM) waits on it, so no batch in flight
    /// is cut off. The token bounds the wait (Orleans' deactivation timeout); on it the wait ends (logged), the loop goes on.
    /// </summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (_flushing is { } loop) await loop.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            LogDrainTimedOut(logger, walletId, _queue.Count);
        }
    }

    /// <summary>Loads the book from the host and forgets every remembered outcome.</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        Book = await host.LoadAsync(clock.UtcNow, cancellationToken);
        _recent.Clear();
        IsStale = false;
        host.Adopted(null);
    }

    private async Task FlushLoopAsync()
    {
        await Task.Yield(); // so that _flushing is set before the loop can finish
        try
        {
            int max = options.GroupCommit ? options.MaxBatchSize : 1;
            while (_queue.Count > 0)
            {
                var batch = new List<Pending>(Math.Min(_queue.Count, max));
                while (batch.Count < max && _queue.TryDequeue(out var next)) batch.Add(next);
                await ProcessBatchAsync(batch);
            }
        }
        finally
        {
            _flushing = null;
            if (_queue.Count > 0) _flushing = FlushLoopAsync(); // whatever happened, queued callers are never stranded
        }
    }

    // R-LEDGER-3: callers are answered only after the batch commits; a failed commit fails them all and reloads the book.
    private async Task ProcessBatchAsync(List<Pending> batch)
    {
        IReadOnlyList<OperationResult> results;
        try
        {
            if (IsStale) await ReloadAsync(CancellationToken.None);
            results = await DecideAndCommitAsync(batch);
        }
        catch (Exception e)
        {
            // The commit may or may not have happened: forget what we think we know and reload before the next batch.
            IsStale = true;
            LogCommitFailed(logger, e, walletId, batch.Count);
            foreach (var p in batch) p.Completion.TrySetException(e);
            return;
        }
        try
        {
            // Before the answers: e.g. an acknowledged lot that expires has its expiry reminder, so an idle wallet writes
            // its expiration even if this silo dies right after answering.
            await host.AfterCommitAsync();
        }
        catch (Exception e)
        {
            LogAfterCommitFailed(logger, e, walletId); // the commit stands; the host tries again after the next batch
        }
        for (int i = 0; i < batch.Count; i++)
        {
            batch[i].Completion.TrySetResult(results[i]);
            BillingMetrics.Operations.Add(1, new KeyValuePair<string, object?>("kind", batch[i].Operation.Name),
                new KeyValuePair<string, object?>("status", results[i].Status));
        }
    }

    /// <summary>
    /// Idempotency keys the wallet does not remember are checked by the commit itself: a key already
    /// recorded refuses the whole batch, and only then are the batch's keys looked up and the batch
    /// decided again, its replays answered from the record. A first-time request costs no lookup.
    /// A refused request writes nothing, so the commit cannot vouch for its key: before a refusal is
    /// answered, the keys are looked up (a retry of an acknowledged debit must replay, not be refused).
    /// </summary>
    private async Task<IReadOnlyList<OperationResult>> DecideAndCommitAsync(List<Pending> batch)
    {
        var operations = batch.Select(p => p.Operation).ToList();
        var stored = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        bool lookedUp = false;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                if (await DecideAndCommitOnceAsync(operations, stored, lookedUp) is { } results) return results;
            }
            catch (IdempotencyKeyTakenException) when (attempt < MaxDecideAttempts)
            {
            }
            var keys = operations.Select(o => o.Key).OfType<string>().Where(k => !_recent.Knows(k)).Distinct().ToList();
            stored = await host.FindOutcomesAsync(keys);
            lookedUp = true;
        }
    }

    /// <summary>Decides the batch and commits it; null (nothing written) when a refusal needs the keys looked up first.</summary>
    private async Task<IReadOnlyList<OperationResult>?> DecideAndCommitOnceAsync(List<WalletOperation> operations,
        Dictionary<string, StoredOutcome> stored, bool keysLookedUp)
    {
        long deciding = Stopwatch.GetTimestamp();
        var now = clock.UtcNow;
        var decision = await host.DecideAsync(Book, operations, key => _recent.Find(key) ?? stored.GetValueOrDefault(key), keysLookedUp, now);
        if (decision.NeedsKeyLookup) return null;
        if (decision.Book is not { } work) return decision.Results;

        if (decision.MustCommit)
        {
            long started = Stopwatch.GetTimestamp();
            BillingMetrics.DecideMicros.Record((long)Stopwatch.GetElapsedTime(deciding, started).TotalMicroseconds);
            work.Version = await host.CommitAsync(decision, now);
            BillingMetrics.CommitMicros.Record((long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            BillingMetrics.BatchSize.Record(operations.Count);
            if (decision.Created) LogWalletCreated(logger, walletId, work.Balance.ToUsd());
            foreach (var ev in decision.Changes.Events) LogEvent(logger, walletId, ev.Kind, ev.SessionId);
        }
        work.ForgetEndedSessions();
        work.ForgetSettledHolds();
        Book = work;
        foreach (var o in decision.Outcomes) _recent.Remember(o);
        host.Adopted(decision);
        return decision.Results;
    }

    /// <summary>A queued operation and the caller waiting for its answer.</summary>
    private sealed class Pending(WalletOperation operation)
    {
        public WalletOperation Operation { get; } = operation;
        public TaskCompletionSource<OperationResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The outcomes of the wallet's most recent keys (<see cref="WalletOptions.RecentOutcomeCacheSize"/>), oldest forgotten first.</summary>
    private sealed class RecentOutcomes(int capacity)
    {
        private readonly Dictionary<string, StoredOutcome> _byKey = new(StringComparer.Ordinal);
        private readonly Queue<string> _order = new();

        public bool Knows(string key) => _byKey.ContainsKey(key);

        public StoredOutcome? Find(string key) => _byKey.GetValueOrDefault(key);

        public void Remember(StoredOutcome outcome)
        {
            if (capacity == 0) return;
            if (_byKey.TryAdd(outcome.Key, outcome)) _order.Enqueue(outcome.Key);
            while (_order.Count > capacity) _byKey.Remove(_order.Dequeue());
        }

        public void Clear()
        {
            _byKey.Clear();
            _order.Clear();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} created with {BalanceUsd} USD")]
    private static partial void LogWalletCreated(ILogger logger, string walletId, decimal balanceUsd);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} raised {EventKind} (session {SessionId})")]
    private static partial void LogEvent(ILogger logger, string walletId, string eventKind, string? sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: commit of {Count} operations failed; state will be reloaded")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, string walletId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: the step after a commit failed (the commit stands); retrying after the next batch")]
    private static partial void LogAfterCommitFailed(ILogger logger, Exception exception, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: deactivation timed out with {Queued} operations still queued; their calls time out (a retryable 503 at the API)")]
    private static partial void LogDrainTimedOut(ILogger logger, string walletId, int queued);
}
