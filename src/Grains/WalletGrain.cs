using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Qubrid.Core;
using Qubrid.Storage;

namespace Qubrid;

/// <summary>
/// A wallet. Reentrant so that operations keep arriving while a commit is in flight; a single flush
/// loop decides queued operations in arrival order against an in-memory copy of the book, commits
/// the whole batch in one transaction, and only then answers each caller with its own result.
/// State is the ledger tables themselves, reloaded on activation and after any failed commit.
/// </summary>
[Reentrant]
public sealed partial class WalletGrain(
    ILedgerStore store,
    BillingClock clock,
    IOptions<WalletOptions> walletOptions,
    IOptions<SignupBonusOptions> bonusOptions,
    IOptions<MeteringOptions> meteringOptions,
    IOptions<PriceListOptions> priceOptions,
    ILogger<WalletGrain> logger) : Grain, IWalletGrain, IRemindable
{
    private const string ExpiryReminder = "expiry";
    private static readonly TimeSpan MaxReminderDue = TimeSpan.FromDays(7);
    // The reminder's period is only the backstop of a failed expiry: the grain retries sooner by itself (below).
    private static readonly TimeSpan ExpiryRetryPeriod = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxExpiryBackoff = TimeSpan.FromSeconds(30);
    private const int MaxDecideAttempts = 3;
    private const int MaxLoadAttempts = 3;

    private readonly WalletOptions _options = walletOptions.Value;
    private readonly Queue<Pending> _queue = new();
    private readonly Dictionary<string, StoredOutcome> _recent = new(StringComparer.Ordinal);
    private readonly Queue<string> _recentOrder = new();
    private WalletBook? _book;
    private bool _stale = true;
    private Task? _flushing;
    private DateTimeOffset? _reminderFor;
    private IGrainTimer? _expiryRetry;
    private int _expiryFailures;

    private string WalletId => this.GetPrimaryKeyString();

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A pooled connection broken by a database restart fails its next command once: an activation (which may
        // come from a reminder that fires rarely) rides that out instead of failing the call that woke it.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await ReloadAsync(cancellationToken);
                break;
            }
            catch (Exception e) when (StorageFailureFilter.AsStorageFailure(e) is { } failure)
            {
                if (attempt == MaxLoadAttempts) throw failure;
                LogLoadRetry(logger, e, WalletId, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancellationToken);
            }
        }
        try
        {
            await ScheduleExpiryAsync(initial: true);
        }
        catch (Exception e)
        {
            _reminderFor = DateTimeOffset.MinValue; // forces a new attempt after the next batch
            LogReminderFailed(logger, e, WalletId);
        }
    }

    public async Task<CreateWalletResult> Create()
    {
        var result = (WalletOpResult)await Enqueue(Pending.Create());
        return new CreateWalletResult(!result.Replayed, _book!.ToBalance(clock.UtcNow));
    }

    public async Task<WalletOpResult> Credit(CreditRequest request)
    {
        var invalid = RequestRules.ValidateCredit(request, clock.UtcNow, out _);
        return invalid ?? (WalletOpResult)await Enqueue(Pending.For(request));
    }

    public async Task<WalletOpResult> Debit(DebitRequest request)
    {
        var invalid = RequestRules.ValidateDebit(request);
        return invalid ?? (WalletOpResult)await Enqueue(Pending.For(request));
    }

    /// <summary>
    /// Charges a query at its exact cost; the wallet rounds cumulatively per model (see <see cref="WalletBook.ChargeInference"/>).
    /// Even a query that costs nothing goes through the queue: a wallet that does not exist is 404 whatever the price.
    /// </summary>
    public async Task<WalletOpResult> ChargeInference(InferenceChargeRequest request)
    {
        if (RequestRules.ValidateKey(request.IdempotencyKey) is { } badKey) return badKey;
        if (!priceOptions.Value.Models.TryGetValue(request.Model ?? "", out var price))
            return WalletOpResult.Invalid(ErrorCodes.UnknownModel, $"Unknown model '{request.Model}'.");
        if (request.InputTokens < 0 || request.OutputTokens < 0 || request.InputTokens > Pricing.MaxTokens || request.OutputTokens > Pricing.MaxTokens
            || request.InputTokens + request.OutputTokens == 0)
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"Token counts must be 0–{Pricing.MaxTokens} and not both zero.");
        var costMicros = Pricing.InferenceCostMicros(new ModelPrice(request.Model!, price.InputUsdPerMillion, price.OutputUsdPerMillion),
            request.InputTokens, request.OutputTokens);
        return (WalletOpResult)await Enqueue(Pending.For(request, costMicros));
    }

    public Task<WalletOpResult> ChargePremium(PremiumChargeRequest request)
    {
        if (!priceOptions.Value.Premium.TryGetValue(request.Name ?? "", out var usd))
            return Task.FromResult(WalletOpResult.Invalid(ErrorCodes.UnknownModel, $"Unknown premium model or API '{request.Name}'."));
        return Debit(new DebitRequest(request.IdempotencyKey, LedgerEntryKind.PremiumAccess, Micros.FromUsd(usd),
            request.Reference is { Length: > 0 } r ? $"{request.Name} {r}" : request.Name!, new UsageTags(Model: request.Name)));
    }

    public async Task<SessionOpResult> OpenSession(OpenSessionRequest request) => (SessionOpResult)await Enqueue(Pending.For(request));

    public async Task<SessionOpResult> ChargeSession(SessionChargeRequest request) => (SessionOpResult)await Enqueue(Pending.For(request));

    public async Task<SessionView?> GetSession(string sessionId)
    {
        await RefreshIfStaleAsync();
        if (_book?.FindSession(sessionId) is { } known) return known;
        if (_book is null) return null;
        return (await store.FindSessionsAsync(WalletId, [sessionId])).SingleOrDefault();
    }

    public async Task<SessionView?> GetSessionAfterQueued(string sessionId)
    {
        await Enqueue(Pending.Maintenance());
        return await GetSession(sessionId);
    }

    public async Task<WalletBalance?> GetBalance()
    {
        await RefreshIfStaleAsync();
        return _book?.ToBalance(clock.UtcNow);
    }

    /// <summary>Lots as stored, except that an expired lot never shows a remainder, even before its expiration entry.</summary>
    public async Task<IReadOnlyList<LotView>?> GetLots()
    {
        await RefreshIfStaleAsync();
        if (_book is null) return null;
        var now = clock.UtcNow;
        return (await store.ListLotsAsync(WalletId, _options.MaxLotsListed))
            .Select(l => l.ExpiresAt is { } at && at <= now ? l with { Remaining = Micros.Zero } : l).ToList();
    }

    /// <summary>After a failed commit the in-memory book may be behind the database: reads wait for the flush loop to reload it.</summary>
    private async Task RefreshIfStaleAsync()
    {
        if (_stale) await Enqueue(Pending.Maintenance());
    }

    public async Task<LedgerPage?> GetLedger(LedgerQuery query) =>
        _book is null ? null : await store.ReadLedgerAsync(WalletId, query);

    public async Task<IReadOnlyList<UsageRow>?> GetUsage(UsageQuery query) =>
        _book is null ? null : await store.ReadUsageAsync(WalletId, query);

    public Task ExpireDueLots() => _book is null ? Task.CompletedTask : Enqueue(Pending.Maintenance());

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == ExpiryReminder ? ExpireWithRetriesAsync() : Task.CompletedTask;

    /// <summary>
    /// Writes due expirations; when the database fails, tries again by itself within seconds (doubling up to
    /// <see cref="MaxExpiryBackoff"/>) rather than waiting for the reminder's next period.
    /// </summary>
    private async Task ExpireWithRetriesAsync()
    {
        try
        {
            await ExpireDueLots();
            _expiryFailures = 0;
            _expiryRetry?.Dispose();
            _expiryRetry = null;
        }
        catch (Exception e)
        {
            _expiryFailures++;
            var delay = TimeSpan.FromSeconds(Math.Min(MaxExpiryBackoff.TotalSeconds, Math.Pow(2, Math.Min(_expiryFailures, 10))));
            LogExpiryRetry(logger, e, WalletId, delay.TotalSeconds);
            _expiryRetry?.Dispose();
            _expiryRetry = this.RegisterGrainTimer(ExpireWithRetriesAsync,
                new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
            throw;
        }
    }

    private Task<object> Enqueue(Pending pending)
    {
        if (_queue.Count >= _options.MaxQueueLength)
            throw new InvalidOperationException($"Wallet '{WalletId}' has {_queue.Count} operations waiting; try again.");
        _queue.Enqueue(pending);
        _flushing ??= FlushLoopAsync();
        return pending.Completion.Task;
    }

    private async Task FlushLoopAsync()
    {
        await Task.Yield(); // so that _flushing is set before the loop can finish
        try
        {
            int max = _options.GroupCommit ? _options.MaxBatchSize : 1;
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

    private async Task ProcessBatchAsync(List<Pending> batch)
    {
        try
        {
            if (_stale) await ReloadAsync(CancellationToken.None);
            var results = await DecideAndCommitAsync(batch);
            for (int i = 0; i < batch.Count; i++)
            {
                batch[i].Completion.TrySetResult(results[i]);
                BillingMetrics.Operations.Add(1, new KeyValuePair<string, object?>("kind", batch[i].Kind.ToString()),
                    new KeyValuePair<string, object?>("status", results[i] switch { WalletOpResult w => w.Status.ToString(), SessionOpResult x => x.Status.ToString(), _ => "" }));
            }
        }
        catch (Exception e)
        {
            // The commit may or may not have happened: forget what we think we know and reload before the next batch.
            _stale = true;
            LogCommitFailed(logger, e, WalletId, batch.Count);
            foreach (var p in batch) p.Completion.TrySetException(e);
            return;
        }
        try
        {
            await ScheduleExpiryAsync(initial: false);
        }
        catch (Exception e)
        {
            // The reminder table is unreachable: the next batch tries again; the callers already have their answers.
            LogReminderFailed(logger, e, WalletId);
        }
    }

    /// <summary>
    /// Idempotency keys the wallet does not remember are checked by the commit itself: a key already
    /// recorded refuses the whole batch, and only then are the batch's keys looked up and the batch
    /// decided again, its replays answered from the record. A first-time request costs no lookup.
    /// A refused request writes nothing, so the commit cannot vouch for its key: before a refusal is
    /// answered, the keys are looked up (a retry of an acknowledged debit must replay, not be refused).
    /// </summary>
    private async Task<object[]> DecideAndCommitAsync(List<Pending> batch)
    {
        var stored = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        bool lookedUp = false;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                if (await DecideAndCommitAsync(batch, stored, lookedUp) is { } results) return results;
            }
            catch (IdempotencyKeyTakenException) when (attempt < MaxDecideAttempts)
            {
            }
            var keys = batch.Select(p => p.Key).OfType<string>().Where(k => !_recent.ContainsKey(k)).Distinct().ToList();
            stored = await store.FindOutcomesAsync(WalletId, keys);
            lookedUp = true;
        }
    }

    /// <summary>Decides the batch and commits it; null (nothing written) when a refusal needs the keys looked up first.</summary>
    private async Task<object[]?> DecideAndCommitAsync(List<Pending> batch, Dictionary<string, StoredOutcome> stored, bool keysLookedUp)
    {
        var now = clock.UtcNow;
        var work = _book?.Clone();
        var unknownSessions = batch.Select(p => p.SessionId).OfType<string>().Where(id => work?.FindSession(id) is null).Distinct().ToList();
        if (work is not null && unknownSessions.Count > 0)
        {
            foreach (var session in await store.FindSessionsAsync(WalletId, unknownSessions)) work.AddKnownSession(session);
        }

        work?.ExpireDue(now);
        var results = new object[batch.Count];
        var outcomes = new List<StoredOutcome>();
        var decided = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        bool created = false;

        for (int i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            if (p.Kind == OpKind.Create)
            {
                if (work is null)
                {
                    work = WalletBook.New(WalletId);
                    GrantSignupBonus(work, now);
                    created = true;
                    results[i] = new WalletOpResult(WalletOpStatus.Applied);
                }
                else
                {
                    results[i] = new WalletOpResult(WalletOpStatus.Applied, Replayed: true);
                }
                continue;
            }
            if (work is null)
            {
                results[i] = p.Kind switch
                {
                    OpKind.Maintenance => new WalletOpResult(WalletOpStatus.Applied),
                    OpKind.OpenSession or OpKind.ChargeSession => SessionOpResult.Fail(WalletOpStatus.WalletNotFound, ErrorCodes.WalletNotFound, $"Wallet '{WalletId}' does not exist."),
                    _ => WalletOpResult.NotFound(WalletId),
                };
                continue;
            }
            switch (p.Kind)
            {
                case OpKind.Maintenance:
                    results[i] = new WalletOpResult(WalletOpStatus.Applied);
                    continue;
                case OpKind.OpenSession:
                    results[i] = work.OpenSession(p.Open!, now);
                    continue;
                case OpKind.ChargeSession:
                    results[i] = work.ChargeSession(p.Charge!, now);
                    continue;
            }

            string key = p.Key!;
            string fingerprint = p.Fingerprint!;
            var previous = decided.GetValueOrDefault(key) ?? _recent.GetValueOrDefault(key) ?? stored.GetValueOrDefault(key);
            if (previous is not null)
            {
                results[i] = previous.Fingerprint == fingerprint
                    ? previous.ToResult(replayed: true)
                    : new WalletOpResult(WalletOpStatus.IdempotencyConflict, ErrorCode: ErrorCodes.IdempotencyConflict,
                        Detail: $"Idempotency key '{key}' was used for a different request.");
                continue;
            }

            var outcome = p.Kind switch
            {
                OpKind.Credit => ApplyCredit(work, p.Credit!, now),
                OpKind.Inference => work.ChargeInference(p.Debit!, p.CostMicros, now),
                _ => work.Debit(p.Debit!, now),
            };
            if (outcome.Status != WalletOpStatus.Applied)
            {
                if (!keysLookedUp) return null;
                results[i] = new WalletOpResult(outcome.Status, Amount: outcome.Available, BalanceAfter: outcome.Available,
                    ErrorCode: ErrorCodes.InsufficientCredits,
                    Detail: $"The wallet holds {outcome.Available.ToUsd():0.######} USD, less than {p.Debit!.Amount.ToUsd():0.######} USD.");
                continue;
            }
            var taken = outcome.Entry is { } e ? new Micros(Math.Abs(e.Amount.Value)) : Micros.Zero;
            var record = new StoredOutcome(key, fingerprint, outcome.Entry?.Seq, taken, outcome.Entry?.BalanceAfter ?? work.Balance, outcome.LotId);
            if (outcome.Entry is not null || p.Kind == OpKind.Inference) // a query that debits 0 still moved the carry: recorded
            {
                outcomes.Add(record);
                decided[key] = record;
            }
            results[i] = record.ToResult(replayed: false);
        }

        if (work is not null)
        {
            work.CheckLowBalance(meteringOptions.Value.LowBalanceRunway, now);
            var changes = work.TakeChanges();
            if (created || !changes.IsEmpty || outcomes.Count > 0)
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                long version = await store.CommitAsync(work, changes, outcomes, now);
                BillingMetrics.CommitMicros.Record((long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                BillingMetrics.BatchSize.Record(batch.Count);
                work.Version = version;
                if (created) LogWalletCreated(logger, WalletId, work.Balance.ToUsd());
                foreach (var ev in changes.Events) LogEvent(logger, WalletId, ev.Kind, ev.SessionId);
            }
            work.ForgetEndedSessions();
            _book = work;
            foreach (var o in outcomes) Remember(o);
        }
        return results;
    }

    private static BookOutcome ApplyCredit(WalletBook book, CreditRequest request, DateTimeOffset now)
    {
        RequestRules.ValidateCredit(request, now, out var lotKind);
        return book.Credit(request, lotKind, now);
    }

    private void GrantSignupBonus(WalletBook book, DateTimeOffset now)
    {
        var bonus = bonusOptions.Value;
        if (bonus.Amount <= 0) return;
        var grant = new CreditRequest($"signup-bonus:{WalletId}", LedgerEntryKind.Grant, Micros.FromUsd(bonus.Amount),
            "sign-up bonus", now + bonus.ValidFor);
        book.Credit(grant, LotKind.Promotional, now);
    }

    private void Remember(StoredOutcome outcome)
    {
        if (_options.RecentOutcomeCacheSize == 0) return;
        if (_recent.TryAdd(outcome.Key, outcome)) _recentOrder.Enqueue(outcome.Key);
        while (_recentOrder.Count > _options.RecentOutcomeCacheSize) _recent.Remove(_recentOrder.Dequeue());
    }

    private async Task ReloadAsync(CancellationToken ct)
    {
        _book = await store.LoadAsync(WalletId, ct);
        _recent.Clear();
        _recentOrder.Clear();
        _stale = false;
    }

    /// <summary>Keeps one reminder due at the next expiry, so an idle wallet still writes its expiration entries.</summary>
    private async Task ScheduleExpiryAsync(bool initial)
    {
        var next = _book?.NextExpiry();
        if (next == _reminderFor && !initial) return;
        if (next is { } at)
        {
            var due = at - clock.UtcNow;
            if (due < TimeSpan.Zero) due = TimeSpan.Zero;
            if (due > MaxReminderDue) due = MaxReminderDue;
            await this.RegisterOrUpdateReminder(ExpiryReminder, due, ExpiryRetryPeriod);
        }
        else if (!initial || _book is not null)
        {
            var existing = await this.GetReminder(ExpiryReminder);
            if (existing is not null) await this.UnregisterReminder(existing);
        }
        _reminderFor = next;
    }

    private enum OpKind : byte { Create, Credit, Debit, Inference, OpenSession, ChargeSession, Maintenance }

    private sealed class Pending
    {
        private Pending(OpKind kind) => Kind = kind;

        public OpKind Kind { get; }
        public CreditRequest? Credit { get; private init; }
        public DebitRequest? Debit { get; private init; }
        public OpenSessionRequest? Open { get; private init; }
        public SessionChargeRequest? Charge { get; private init; }
        public string? Key { get; private init; }
        public string? Fingerprint { get; private init; }
        public decimal CostMicros { get; private init; }
        public string? SessionId => Open?.SessionId ?? Charge?.SessionId;
        public TaskCompletionSource<object> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static Pending Create() => new(OpKind.Create);
        public static Pending Maintenance() => new(OpKind.Maintenance);
        public static Pending For(CreditRequest r) => new(OpKind.Credit) { Credit = r, Key = r.IdempotencyKey, Fingerprint = RequestRules.Fingerprint(r) };
        public static Pending For(DebitRequest r) => new(OpKind.Debit) { Debit = r, Key = r.IdempotencyKey, Fingerprint = RequestRules.Fingerprint(r) };
        public static Pending For(InferenceChargeRequest r, decimal costMicros) => new(OpKind.Inference)
        {
            // The amount is decided with the wallet's carry; this template holds the rest of the debit.
            Debit = new DebitRequest(r.IdempotencyKey, LedgerEntryKind.InferenceCharge, new Micros((long)decimal.Ceiling(costMicros)),
                $"{r.Model} in={r.InputTokens} out={r.OutputTokens}", new UsageTags(Model: r.Model)),
            Key = r.IdempotencyKey,
            Fingerprint = RequestRules.Fingerprint(r),
            CostMicros = costMicros,
        };
        public static Pending For(OpenSessionRequest r) => new(OpKind.OpenSession) { Open = r };
        public static Pending For(SessionChargeRequest r) => new(OpKind.ChargeSession) { Charge = r };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} created with {BalanceUsd} USD")]
    private static partial void LogWalletCreated(ILogger logger, string walletId, decimal balanceUsd);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} raised {EventKind} (session {SessionId})")]
    private static partial void LogEvent(ILogger logger, string walletId, string eventKind, string? sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: the expiry reminder could not be scheduled; retrying after the next batch")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: loading failed (attempt {Attempt}); retrying")]
    private static partial void LogLoadRetry(ILogger logger, Exception exception, string walletId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: writing due expirations failed; retrying in {DelaySeconds} s")]
    private static partial void LogExpiryRetry(ILogger logger, Exception exception, string walletId, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: commit of {Count} operations failed; state will be reloaded")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, string walletId, int count);
}
