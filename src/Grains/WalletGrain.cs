using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Qubrid.Core;
using Qubrid.Storage;
using Qubrid.Wallets;

namespace Qubrid;

/// <summary>
/// A wallet. Reentrant so that operations keep arriving while a commit is in flight; its
/// <see cref="WalletBatchEngine"/> queues them, decides and commits them in batches and answers each caller
/// after the commit. The grain validates and prices requests, routes them into the engine, supplies its
/// storage and keeps the expiry reminder. State is the ledger tables themselves, reloaded on activation and
/// after any failed commit.
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
    ILogger<WalletGrain> logger) : Grain, IWalletGrain, IRemindable, IWalletBatchHost
{
    private const int MaxLoadAttempts = 3;

    private readonly WalletOptions _options = walletOptions.Value;
    private readonly WalletPolicy _policy = new(meteringOptions.Value.ChargeInterval, limitOptions.Value.ToDefaults(), limitOptions.Value.WarningPercent,
        holdOptions.Value.MaxDuration, Micros.FromUsd(topupOptions.Value.Min), Micros.FromUsd(topupOptions.Value.Max),
        autoTopupOptions.Value.RetryAfter, autoTopupOptions.Value.MaxFailures);
    private readonly RunningSessionsGauge _runningSessions = new(meteringOptions.Value.Mode == MeteringMode.Shards);
    private WalletBatchEngine? _engine;
    private WalletExpiryReminder? _expiry;

    private string WalletId => this.GetPrimaryKeyString();
    private WalletBatchEngine Engine => _engine ??= new WalletBatchEngine(WalletId, this, clock, _options, logger);
    private WalletBook? Book => Engine.Book;
    private WalletExpiryReminder Expiry => _expiry ??= new WalletExpiryReminder(this, clock, logger);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // A pooled connection broken by a database restart fails its next command once: an activation (which may
        // come from a reminder that fires rarely) rides that out instead of failing the call that woke it.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await Engine.ReloadAsync(cancellationToken);
                break;
            }
            catch (Exception e) when (StorageFailureFilter.AsStorageFailure(e) is { } failure)
            {
                if (attempt == MaxLoadAttempts) throw failure;
                LogLoadRetry(logger, e, WalletId, attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancellationToken);
            }
        }
        if (Book?.AutoTopupInFlight is { } inFlight) StartAutoTopup(inFlight); // a crash may have left it half-way: resume it
        try
        {
            await Expiry.ScheduleAsync(Book?.NextExpiry(), walletExists: Book is not null, initial: true);
        }
        catch (Exception e)
        {
            Expiry.ScheduleFailed(e); // forces a new attempt after the next batch
        }
    }

    public async Task<CreateWalletResult> Create()
    {
        var result = (await Enqueue(new CreateWallet())).Wallet!;
        return new CreateWalletResult(!result.Replayed, Book!.ToBalance(clock.UtcNow));
    }

    public async Task<WalletOpResult> Credit(CreditRequest request)
    {
        // A lot expires at the instant its expiry reads back as (PostgreSQL keeps microseconds), in memory as after a reload.
        if (request.ExpiresAt is { } at) request = request with { ExpiresAt = BillingClock.ToMicroseconds(at) };
        return RequestRules.ValidateCredit(request, now: null, out _) ?? (await Enqueue(new CreditOperation(request))).Wallet!;
    }

    public async Task<WalletOpResult> Debit(DebitRequest request) =>
        RequestRules.ValidateDebit(request) ?? (await Enqueue(new DebitOperation(request))).Wallet!;

    // R-INF-5: every charge goes through the wallet's queue (a missing wallet is wallet_not_found, whatever the price).
    /// <summary>
    /// Charges a query at its exact cost; the wallet rounds cumulatively per model (see <see cref="WalletBook.ChargeInference"/>).
    /// Even a query that costs nothing goes through the queue: a wallet that does not exist is 404 whatever the price.
    /// </summary>
    public async Task<WalletOpResult> ChargeInference(InferenceChargeRequest request)
    {
        var price = priceOptions.Value.Models.TryGetValue(request.Model ?? "", out var p)
            ? new ModelPrice(request.Model!, p.InputUsdPerMillion, p.OutputUsdPerMillion)
            : null;
        if (RequestRules.ValidateInference(request, price) is { } invalid) return invalid;
        var costMicros = Pricing.InferenceCostMicros(price!, request.InputTokens, request.OutputTokens);
        return (await Enqueue(new InferenceOperation(request, costMicros))).Wallet!;
    }

    // R-INF-6: a premium_access debit at the configured price; an unknown name is unknown_model.
    public Task<WalletOpResult> ChargePremium(PremiumChargeRequest request)
    {
        if (!priceOptions.Value.Premium.TryGetValue(request.Name ?? "", out var usd))
            return Task.FromResult(WalletOpResult.Invalid(ErrorCodes.UnknownModel, $"Unknown premium model or API '{request.Name}'."));
        return Debit(new DebitRequest(request.IdempotencyKey, LedgerEntryKind.PremiumAccess, Micros.FromUsd(usd),
            request.Reference is { Length: > 0 } r ? $"{request.Name} {r}" : request.Name!, new UsageTags(Model: request.Name, MemberId: request.MemberId, ProjectId: request.ProjectId)));
    }

    public async Task<HoldOpResult> CreateHold(HoldRequest request)
    {
        if (RequestRules.ValidateHold(request) is { } invalid) return new HoldOpResult(invalid, null);
        // Held to the microsecond, PostgreSQL's precision, so that the hold expires at the instant it reads back as.
        return await HoldAnswer(await Enqueue(new CreateHoldOperation(request with { ExpiresAt = BillingClock.ToMicroseconds(request.ExpiresAt) })));
    }

    public async Task<HoldOpResult> SettleHold(HoldSettleRequest request)
    {
        if (RequestRules.ValidateSettle(request) is { } invalid) return new HoldOpResult(invalid, null);
        return await HoldAnswer(await Enqueue(new SettleHoldOperation(request)));
    }

    /// <summary>The hold as it stands after the call (read back from the store when the book no longer holds it, e.g. an old replay).</summary>
    private async Task<HoldOpResult> HoldAnswer(OperationResult result)
    {
        var wallet = result.Wallet!;
        if (result.Hold is not null || !wallet.Succeeded || wallet.LotId is not { } number) return new HoldOpResult(wallet, result.Hold);
        var stored = Book?.FindHold(number) ?? await store.FindHoldAsync(WalletId, number);
        return new HoldOpResult(wallet, stored?.ToView(WalletId));
    }

    public async Task<IReadOnlyList<HoldView>?> GetHolds()
    {
        await Enqueue(new Settle()); // due expiries first
        return Book?.ActiveHolds(clock.UtcNow).Select(h => h.ToView(WalletId)).ToList();
    }

    public async Task<LimitsView?> GetLimits()
    {
        await RefreshIfStaleAsync();
        return Book?.ToLimitsView(clock.UtcNow);
    }

    public async Task<LimitsView?> SetLimits(LimitScope scope, SpendLimits limits)
    {
        await Enqueue(new SetLimitsOperation(scope, limits));
        return Book?.ToLimitsView(clock.UtcNow);
    }

    public async Task<AutoTopupView?> GetAutoTopup()
    {
        await RefreshIfStaleAsync();
        return Book?.ToAutoTopupView(clock.UtcNow);
    }

    public async Task<AutoTopupView?> ConfigureAutoTopup(AutoTopupSettings settings)
    {
        await Enqueue(new ConfigureAutoTopupOperation(settings));
        return Book?.ToAutoTopupView(clock.UtcNow);
    }

    public Task AutoTopupSettled(long attempt, bool succeeded, string? failure) => Enqueue(new AutoTopupSettledOperation(attempt, succeeded, failure));

    public async Task<AutoTopupAttempt?> GetAutoTopupInFlight()
    {
        await RefreshIfStaleAsync();
        return Book?.AutoTopupInFlight;
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
        if (Book?.FindSession(sessionId) is { } known) return known;
        if (Book is null) return null;
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
        return Book?.ToBalance(clock.UtcNow);
    }

    /// <summary>Lots as stored, except that an expired lot never shows a remainder, even before its expiration entry.</summary>
    public async Task<IReadOnlyList<CreditLot>?> GetLots()
    {
        await RefreshIfStaleAsync();
        if (Book is null) return null;
        var now = clock.UtcNow;
        return (await store.ListLotsAsync(WalletId, _options.MaxLotsListed))
            .Select(l => l.ExpiresAt is { } at && at <= now ? l with { Remaining = Micros.Zero } : l).ToList();
    }

    /// <summary>After a failed commit the in-memory book may be behind the database: reads wait for the flush loop to reload it.</summary>
    private async Task RefreshIfStaleAsync()
    {
        if (Engine.IsStale) await Enqueue(new Settle());
    }

    public async Task<LedgerPage?> GetLedger(LedgerQuery query) =>
        Book is null ? null : await store.ReadLedgerAsync(WalletId, query);

    public async Task<IReadOnlyList<UsageRow>?> GetUsage(UsageQuery query) =>
        Book is null ? null : await store.ReadUsageAsync(WalletId, query);

    public Task ExpireDueLots() => Book is null ? Task.CompletedTask : Enqueue(new Settle());

    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == WalletExpiryReminder.Name ? Expiry.ExpireWithRetriesAsync(ExpireDueLots) : Task.CompletedTask;

    private Task<OperationResult> Enqueue(WalletOperation operation) => Engine.Enqueue(operation);

    async Task<WalletBook?> IWalletBatchHost.LoadAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var book = await store.LoadAsync(WalletId, now, cancellationToken);
        if (book is not null) book.Policy = _policy;
        return book;
    }

    Task<Dictionary<string, StoredOutcome>> IWalletBatchHost.FindOutcomesAsync(IReadOnlyCollection<string> keys) => store.FindOutcomesAsync(WalletId, keys);

    async Task<BatchDecision> IWalletBatchHost.DecideAsync(WalletBook? book, IReadOnlyList<WalletOperation> operations,
        Func<string, StoredOutcome?> knownOutcome, bool keysLookedUp, DateTimeOffset now)
    {
        if (book is not null)
        {
            // Holds the batch names that the book no longer keeps (settled before this activation): read them back.
            foreach (var number in operations.Select(o => o.HoldNumber).OfType<long>().Distinct())
            {
                if (!book.KnowsHold(number) && await store.FindHoldAsync(WalletId, number) is { } settled) book.AddKnownHold(settled);
            }
        }
        var unknownSessions = operations.Select(o => o.SessionId).OfType<string>().Where(id => book is not null && book.FindSession(id) is null)
            .Distinct().ToList();
        var storedSessions = unknownSessions.Count > 0 ? await store.FindSessionsAsync(WalletId, unknownSessions) : [];
        var context = new BatchContext(WalletId, now, keysLookedUp, bonusOptions.Value.GrantFor(WalletId, now), meteringOptions.Value.LowBalanceRunway, _policy);
        return WalletBatch.Decide(book, operations, storedSessions, knownOutcome, context);
    }

    Task<long> IWalletBatchHost.CommitAsync(BatchDecision decision, DateTimeOffset now) =>
        store.CommitAsync(decision.Book!, decision.Changes, decision.Outcomes, now);

    void IWalletBatchHost.Adopted(BatchDecision? decision)
    {
        _runningSessions.Count(Book);
        if (decision?.Changes.AutoTopupStarted is { } attempt) StartAutoTopup(attempt);
    }

    // An acknowledged lot that expires has its expiry reminder before its caller hears of it, even if this silo dies right after.
    Task IWalletBatchHost.AfterCommitAsync() => Expiry.ScheduleAsync(Book?.NextExpiry(), walletExists: Book is not null, initial: false);

    // Graceful drain (a silo stopping on SIGTERM): each wallet first finishes the batches queued or in flight, so every
    // caller gets its committed answer before the activation moves.
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        try { if (_engine is not null) await _engine.DrainAsync(cancellationToken); }
        finally { _runningSessions.Release(); }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: auto top-up attempt {Attempt} could not be handed over; it resumes later")]
    private static partial void LogAutoTopupStartFailed(ILogger logger, Exception exception, string walletId, long attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: loading failed (attempt {Attempt}); retrying")]
    private static partial void LogLoadRetry(ILogger logger, Exception exception, string walletId, int attempt);
}
