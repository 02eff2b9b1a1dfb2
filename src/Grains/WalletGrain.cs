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
    IOptions<SpendLimitOptions> limitOptions,
    IOptions<HoldOptions> holdOptions,
    IOptions<AutoTopupOptions> autoTopupOptions,
    IOptions<Payments.TopupOptions> topupOptions,
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
    private readonly WalletPolicy _policy = new(meteringOptions.Value.ChargeInterval, limitOptions.Value.ToDefaults(), limitOptions.Value.WarningPercent,
        holdOptions.Value.MaxDuration, Micros.FromUsd(topupOptions.Value.Min), Micros.FromUsd(topupOptions.Value.Max),
        autoTopupOptions.Value.RetryAfter, autoTopupOptions.Value.MaxFailures);
    private readonly Queue<Pending> _queue = new();
    private readonly Dictionary<string, StoredOutcome> _recent = new(StringComparer.Ordinal);
    private readonly Queue<string> _recentOrder = new();
    private WalletBook? _book;
    private bool _stale = true;
    private Task? _flushing;
    private DateTimeOffset? _reminderFor;
    private IGrainTimer? _expiryRetry;
    private int _expiryFailures;
    private readonly bool _countsRunningSessions = meteringOptions.Value.Mode == MeteringMode.Shards;
    private int _runningCounted;

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
        if (_book?.AutoTopupInFlight is { } inFlight) StartAutoTopup(inFlight); // a crash may have left it half-way: resume it
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
        var result = (await Enqueue(new CreateWallet())).Wallet!;
        return new CreateWalletResult(!result.Replayed, _book!.ToBalance(clock.UtcNow));
    }

    public async Task<WalletOpResult> Credit(CreditRequest request)
    {
        // A lot expires at the instant its expiry reads back as (PostgreSQL keeps microseconds), in memory as after a reload.
        if (request.ExpiresAt is { } at) request = request with { ExpiresAt = BillingClock.ToMicroseconds(at) };
        return RequestRules.ValidateCredit(request, clock.UtcNow, out _) ?? (await Enqueue(new CreditOperation(request))).Wallet!;
    }

    public async Task<WalletOpResult> Debit(DebitRequest request) =>
        RequestRules.ValidateDebit(request) ?? (await Enqueue(new DebitOperation(request))).Wallet!;

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
        return (await Enqueue(new InferenceOperation(request, costMicros))).Wallet!;
    }

    public Task<WalletOpResult> ChargePremium(PremiumChargeRequest request)
    {
        if (!priceOptions.Value.Premium.TryGetValue(request.Name ?? "", out var usd))
            return Task.FromResult(WalletOpResult.Invalid(ErrorCodes.UnknownModel, $"Unknown premium model or API '{request.Name}'."));
        return Debit(new DebitRequest(request.IdempotencyKey, LedgerEntryKind.PremiumAccess, Micros.FromUsd(usd),
            request.Reference is { Length: > 0 } r ? $"{request.Name} {r}" : request.Name!, new UsageTags(Model: request.Name)));
    }

    public async Task<HoldOpResult> CreateHold(HoldRequest request)
    {
        if (RequestRules.ValidateKey(request.IdempotencyKey) is { } badKey) return new HoldOpResult(badKey, null);
        if (!request.Amount.IsPositive) return new HoldOpResult(WalletOpResult.Invalid(ErrorCodes.InvalidAmount, "A hold's amount must be positive."), null);
        if (request.Reference is null || request.Reference.Length > Limits.MaxClientReferenceLength)
            return new HoldOpResult(WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"The reference must be at most {Limits.MaxClientReferenceLength} characters."), null);
        // Held to the microsecond, PostgreSQL's precision, so that the hold expires at the instant it reads back as.
        return await HoldAnswer(await Enqueue(new CreateHoldOperation(request with { ExpiresAt = BillingClock.ToMicroseconds(request.ExpiresAt) })));
    }

    public async Task<HoldOpResult> SettleHold(HoldSettleRequest request)
    {
        if (RequestRules.ValidateKey(request.IdempotencyKey) is { } badKey) return new HoldOpResult(badKey, null);
        if (request.Amount.IsNegative) return new HoldOpResult(WalletOpResult.Invalid(ErrorCodes.InvalidAmount, "A capture's amount must not be negative."), null);
        return await HoldAnswer(await Enqueue(new SettleHoldOperation(request)));
    }

    /// <summary>The hold as it stands after the call (read back from the store when the book no longer holds it, e.g. an old replay).</summary>
    private async Task<HoldOpResult> HoldAnswer(OperationResult result)
    {
        var wallet = result.Wallet!;
        if (result.Hold is not null || !wallet.Succeeded || wallet.LotId is not { } number) return new HoldOpResult(wallet, result.Hold);
        var stored = _book?.FindHold(number) ?? await store.FindHoldAsync(WalletId, number);
        return new HoldOpResult(wallet, stored?.ToView(WalletId));
    }

    public async Task<IReadOnlyList<HoldView>?> GetHolds()
    {
        await Enqueue(new Settle()); // due expiries first
        return _book?.ActiveHolds(clock.UtcNow).Select(h => h.ToView(WalletId)).ToList();
    }

    public async Task<LimitsView?> GetLimits()
    {
        await RefreshIfStaleAsync();
        return _book?.ToLimitsView(clock.UtcNow);
    }

    public async Task<LimitsView?> SetLimits(LimitScope scope, SpendLimits limits)
    {
        await Enqueue(new SetLimitsOperation(scope, limits));
        return _book?.ToLimitsView(clock.UtcNow);
    }

    public async Task<AutoTopupView?> GetAutoTopup()
    {
        await RefreshIfStaleAsync();
        return _book?.ToAutoTopupView(clock.UtcNow);
    }

    public async Task<AutoTopupView?> ConfigureAutoTopup(AutoTopupSettings settings)
    {
        await Enqueue(new ConfigureAutoTopupOperation(settings));
        return _book?.ToAutoTopupView(clock.UtcNow);
    }

    public Task AutoTopupSettled(long attempt, bool succeeded, string? failure) => Enqueue(new AutoTopupSettledOperation(attempt, succeeded, failure));

    public async Task<AutoTopupAttempt?> GetAutoTopupInFlight()
    {
        await RefreshIfStaleAsync();
        return _book?.AutoTopupInFlight;
    }

    /// <summary>Hands an attempt to the wallet's auto top-up grain (one-way); it charges at most once per attempt, however often it is told.</summary>
    private void StartAutoTopup(AutoTopupAttempt attempt)
    {
        try
        {
            GrainFactory.GetGrain<IAutoTopupGrain>(WalletId).Run(attempt).Ignore();
        }
        catch (Exception e)
        {
            LogAutoTopupStartFailed(logger, e, WalletId, attempt.Attempt); // its reminder, or the next activation, starts it again
        }
    }

    public async Task<SessionOpResult> OpenSession(OpenSessionRequest request) => (await Enqueue(new OpenSessionOperation(request))).Session!;

    public async Task<SessionOpResult> ChargeSession(SessionChargeRequest request) => (await Enqueue(new ChargeSessionOperation(request))).Session!;

    public async Task<RunningSessionsCharge> ChargeRunningSessions(DateTimeOffset at) =>
        (await Enqueue(new ChargeRunningSessionsOperation(at))).Metered!;

    public async Task<SessionView?> GetSession(string sessionId)
    {
        await RefreshIfStaleAsync();
        if (_book?.FindSession(sessionId) is { } known) return known;
        if (_book is null) return null;
        return (await store.FindSessionsAsync(WalletId, [sessionId])).SingleOrDefault();
    }

    public async Task<SessionView?> GetSessionAfterQueued(string sessionId)
    {
        await Enqueue(new Settle());
        return await GetSession(sessionId);
    }

    public async Task<WalletBalance?> GetBalance()
    {
        await RefreshIfStaleAsync();
        return _book?.ToBalance(clock.UtcNow);
    }

    /// <summary>Lots as stored, except that an expired lot never shows a remainder, even before its expiration entry.</summary>
    public async Task<IReadOnlyList<CreditLot>?> GetLots()
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
        if (_stale) await Enqueue(new Settle());
    }

    public async Task<LedgerPage?> GetLedger(LedgerQuery query) =>
        _book is null ? null : await store.ReadLedgerAsync(WalletId, query);

    public async Task<IReadOnlyList<UsageRow>?> GetUsage(UsageQuery query) =>
        _book is null ? null : await store.ReadUsageAsync(WalletId, query);

    public Task ExpireDueLots() => _book is null ? Task.CompletedTask : Enqueue(new Settle());

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
            var doubled = TimeSpan.FromSeconds(1L << Math.Min(_expiryFailures, 10)); // 2 s, 4 s, 8 s, … in whole seconds
            var delay = doubled < MaxExpiryBackoff ? doubled : MaxExpiryBackoff;
            LogExpiryRetry(logger, e, WalletId, delay);
            _expiryRetry?.Dispose();
            _expiryRetry = this.RegisterGrainTimer(ExpireWithRetriesAsync,
                new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
            throw;
        }
    }

    private Task<OperationResult> Enqueue(WalletOperation operation)
    {
        if (_queue.Count >= _options.MaxQueueLength)
            throw new WalletBusyException($"Wallet '{WalletId}' has {_queue.Count} operations waiting; try again.");
        var pending = new Pending(operation);
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
        IReadOnlyList<OperationResult> results;
        try
        {
            if (_stale) await ReloadAsync(CancellationToken.None);
            results = await DecideAndCommitAsync(batch);
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
            // Before the answers: an acknowledged lot that expires has its expiry reminder, so an idle wallet writes its
            // expiration even if this silo dies right after answering. Costs nothing when the next expiry did not move.
            await ScheduleExpiryAsync(initial: false);
        }
        catch (Exception e)
        {
            // The reminder table is unreachable: the next batch (or the next activation) tries again; the commit stands.
            LogReminderFailed(logger, e, WalletId);
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
            var keys = batch.Select(p => p.Operation.Key).OfType<string>().Where(k => !_recent.ContainsKey(k)).Distinct().ToList();
            stored = await store.FindOutcomesAsync(WalletId, keys);
            lookedUp = true;
        }
    }

    /// <summary>Decides the batch (<see cref="WalletBatch.Decide"/>) and commits it; null (nothing written) when a refusal needs the keys looked up first.</summary>
    private async Task<IReadOnlyList<OperationResult>?> DecideAndCommitAsync(List<Pending> batch, Dictionary<string, StoredOutcome> stored, bool keysLookedUp)
    {
        long deciding = System.Diagnostics.Stopwatch.GetTimestamp();
        var now = clock.UtcNow;
        if (_book is not null)
        {
            // Holds the batch names that the book no longer keeps (settled before this activation): read them back.
            foreach (var number in batch.Select(p => HoldNumberOf(p.Operation)).OfType<long>().Distinct())
            {
                if (!_book.KnowsHold(number) && await store.FindHoldAsync(WalletId, number) is { } settled) _book.AddKnownHold(settled);
            }
        }
        var unknownSessions = batch.Select(p => p.Operation.SessionId).OfType<string>().Where(id => _book is not null && _book.FindSession(id) is null)
            .Distinct().ToList();
        var storedSessions = unknownSessions.Count > 0 ? await store.FindSessionsAsync(WalletId, unknownSessions) : [];
        var context = new BatchContext(WalletId, now, keysLookedUp, SignupBonus(now), meteringOptions.Value.LowBalanceRunway, _policy);
        var decision = WalletBatch.Decide(_book, batch.Select(p => p.Operation).ToList(), storedSessions,
            key => _recent.GetValueOrDefault(key) ?? stored.GetValueOrDefault(key), context);
        if (decision.NeedsKeyLookup) return null;
        if (decision.Book is not { } work) return decision.Results;

        if (decision.MustCommit)
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            BillingMetrics.DecideMicros.Record((long)System.Diagnostics.Stopwatch.GetElapsedTime(deciding, started).TotalMicroseconds);
            work.Version = await store.CommitAsync(work, decision.Changes, decision.Outcomes, now);
            BillingMetrics.CommitMicros.Record((long)System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            BillingMetrics.BatchSize.Record(batch.Count);
            if (decision.Created) LogWalletCreated(logger, WalletId, work.Balance.ToUsd());
            foreach (var ev in decision.Changes.Events) LogEvent(logger, WalletId, ev.Kind, ev.SessionId);
        }
        work.ForgetEndedSessions();
        work.ForgetSettledHolds();
        _book = work;
        CountRunningSessions();
        foreach (var o in decision.Outcomes) Remember(o);
        if (decision.Changes.AutoTopupStarted is { } attempt) StartAutoTopup(attempt);
        return decision.Results;
    }

    private static long? HoldNumberOf(WalletOperation operation) => operation switch
    {
        SettleHoldOperation settle => settle.Request.HoldNumber,
        InferenceOperation query => query.Request.HoldNumber,
        _ => null,
    };

    /// <summary>The grant a new wallet receives, if the configuration gives one.</summary>
    private CreditRequest? SignupBonus(DateTimeOffset now)
    {
        var bonus = bonusOptions.Value;
        return bonus.Amount <= 0 ? null
            : new CreditRequest($"signup-bonus:{WalletId}", LedgerEntryKind.Grant, Micros.FromUsd(bonus.Amount), "sign-up bonus", now + bonus.ValidFor);
    }

    private void Remember(StoredOutcome outcome)
    {
        if (_options.RecentOutcomeCacheSize == 0) return;
        if (_recent.TryAdd(outcome.Key, outcome)) _recentOrder.Enqueue(outcome.Key);
        while (_recentOrder.Count > _options.RecentOutcomeCacheSize) _recent.Remove(_recentOrder.Dequeue());
    }

    private async Task ReloadAsync(CancellationToken ct)
    {
        _book = await store.LoadAsync(WalletId, clock.UtcNow, ct);
        if (_book is not null) _book.Policy = _policy;
        _recent.Clear();
        _recentOrder.Clear();
        _stale = false;
        CountRunningSessions();
    }

    /// <summary>
    /// With metering shards, session grains are not resident while their sessions run: the running-sessions gauge counts
    /// them where they are metered, in their wallet's activation (with a reminder per session, the session grains count).
    /// </summary>
    private void CountRunningSessions()
    {
        if (!_countsRunningSessions) return;
        int running = _book?.Sessions.Count(s => s.State == SessionState.Running) ?? 0;
        BillingMetrics.AdjustRunningSessions(running - _runningCounted);
        _runningCounted = running;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        BillingMetrics.AdjustRunningSessions(-_runningCounted);
        _runningCounted = 0;
        return Task.CompletedTask;
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

    /// <summary>A queued operation and the caller waiting for its answer.</summary>
    private sealed class Pending(WalletOperation operation)
    {
        public WalletOperation Operation { get; } = operation;
        public TaskCompletionSource<OperationResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: auto top-up attempt {Attempt} could not be handed over; it resumes later")]
    private static partial void LogAutoTopupStartFailed(ILogger logger, Exception exception, string walletId, long attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} created with {BalanceUsd} USD")]
    private static partial void LogWalletCreated(ILogger logger, string walletId, decimal balanceUsd);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wallet {WalletId} raised {EventKind} (session {SessionId})")]
    private static partial void LogEvent(ILogger logger, string walletId, string eventKind, string? sessionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: the expiry reminder could not be scheduled; retrying after the next batch")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: loading failed (attempt {Attempt}); retrying")]
    private static partial void LogLoadRetry(ILogger logger, Exception exception, string walletId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: writing due expirations failed; retrying in {Delay}")]
    private static partial void LogExpiryRetry(ILogger logger, Exception exception, string walletId, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: commit of {Count} operations failed; state will be reloaded")]
    private static partial void LogCommitFailed(ILogger logger, Exception exception, string walletId, int count);
}
