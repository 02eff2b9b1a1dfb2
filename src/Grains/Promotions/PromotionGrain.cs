using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Qubrid.Promotions;

/// <summary>
/// One promotion. Its redemptions run one at a time here: the decision (window, cap, one per wallet, new wallets only),
/// then a pending reservation committed with the count (the database re-checks the cap and the uniqueness), then the
/// wallet's grant under a key derived from the promotion, then the reservation marked done. A silo that dies between
/// those steps leaves a pending reservation; the next activation (a retry, any call, or the recovery reminder) grants it
/// again under the same key, which the wallet applies at most once: one lot per reservation, the count exact.
/// </summary>
public sealed partial class PromotionGrain(PromotionStore store, BillingClock clock, IOptions<PromotionOptions> options, ILogger<PromotionGrain> logger)
    : Grain, IPromotionGrain, IRemindable
{
    private const string RecoveryReminder = "promotion-recovery";
    private const int MaxCodeAttempts = 3;
    private PromotionView? _promotion;

    private string Id => this.GetPrimaryKeyString();

    /// <summary>What the wallet's grant is keyed by: one grant per (wallet, promotion), however often it is retried.</summary>
    public static string GrantKey(string promotionId) => $"promotion:{promotionId}";

    // R-PROMO-5: a redeemed promotion is a promotional lot (ledger kind grant) whose source names the promotion.
    public static string SourceOf(string promotionId) => $"promotion:{promotionId}";

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _promotion = await store.ReadAsync(Id);
        if (_promotion is null) return;
        await CompletePendingAsync();
        if (!IsOver(_promotion, clock.UtcNow)) await KeepRecoveryReminderAsync();
    }

    /// <summary>Nothing more can be redeemed: disabled, past its window, or at its cap.</summary>
    private static bool IsOver(PromotionView p, DateTimeOffset now) =>
        p.Disabled || p.EndsAt <= now || PromotionRules.EffectiveCap(p) <= p.Redemptions;

    /// <summary>The reminder that wakes the promotion to complete what a dead silo left pending (best effort: a retry completes it too).</summary>
    private async Task KeepRecoveryReminderAsync()
    {
        try
        {
            await this.RegisterOrUpdateReminder(RecoveryReminder, options.Value.RecoveryPeriod, options.Value.RecoveryPeriod);
        }
        catch (Exception e) when (e is not InvariantViolationException)
        {
            LogReminderFailed(logger, e, Id);
        }
    }

    public async Task<PromotionCreateResult> Create(PromotionSpec spec)
    {
        if (_promotion is not null) return new PromotionCreateResult(null, [], ErrorCodes.InvalidRequest, $"Promotion '{Id}' exists already.");
        var now = clock.UtcNow;
        if (PromotionRules.Validate(spec, now) is { } invalid) return new PromotionCreateResult(null, [], invalid.Code, invalid.Detail);
        var view = new PromotionView(Id, spec.Code is { } shared ? PromotionRules.Normalize(shared) : null, spec.CodeCount, spec.Amount,
            Micro(spec.LotExpiresAt), spec.LotValidDays, Micro(spec.StartsAt), Micro(spec.EndsAt), spec.MaxRedemptions, 0, spec.NewWalletsOnly, now, null);
        for (int attempt = 1; attempt <= MaxCodeAttempts; attempt++)
        {
            var codes = view.Code is { } code ? [code] : Generate(spec.CodeCount!.Value);
            if (await store.InsertAsync(view, codes))
            {
                _promotion = view;
                await KeepRecoveryReminderAsync();
                LogCreated(logger, Id, codes.Count, view.Amount.ToUsd());
                return new PromotionCreateResult(view, codes);
            }
            if (view.Code is not null) break; // a generated code that collides is drawn again; a chosen one is the admin's to change
        }
        return new PromotionCreateResult(null, [], PromotionErrorCodes.PromotionCodeTaken, "That code belongs to another promotion already.");
    }

    private static List<string> Generate(int count)
    {
        var codes = new HashSet<string>(StringComparer.Ordinal);
        while (codes.Count < count) codes.Add(PromotionRules.GenerateCode());
        return [.. codes];
    }

    private static DateTimeOffset? Micro(DateTimeOffset? at) => at is { } t ? BillingClock.ToMicroseconds(t) : null;

    public async Task<PromotionView?> Get() => _promotion is null ? null : _promotion = await store.ReadAsync(Id);

    public async Task<PromotionView?> Disable()
    {
        if (_promotion is null) return null;
        await store.DisableAsync(Id, clock.UtcNow);
        return _promotion = await store.ReadAsync(Id);
    }

    public async Task<RedemptionResult> Redeem(RedemptionRequest request)
    {
        if (_promotion is null) return new RedemptionResult(RedemptionStatus.PromotionNotFound, Detail: "No promotion has this code.");
        if (await store.FindReservationAsync(Id, request.WalletId) is { } existing)
        {
            return existing.IdempotencyKey == request.IdempotencyKey
                ? await CompleteAsync(existing, replayed: true)
                : await RefuseAsync(request, RedemptionStatus.AlreadyRedeemed, "This wallet has redeemed this promotion already.");
        }
        // Ended or exhausted for everyone: answered without reading the wallet or the code (the cheap refusal of a rush).
        if (PromotionRules.Decide(_promotion, clock.UtcNow, DateTimeOffset.MaxValue, codeUsedByOther: false) is { Refusal: { } over } early)
            return await RefuseAsync(request, over, early.Detail!);
        if (await store.WalletCreatedAtAsync(request.WalletId) is not { } walletCreatedAt)
            return new RedemptionResult(RedemptionStatus.WalletNotFound, Detail: $"Wallet '{request.WalletId}' does not exist.");
        if (await store.FindCodeAsync(request.Code) is not { } code || code.PromotionId != Id)
            return await RefuseAsync(request, RedemptionStatus.PromotionNotFound, "No promotion has this code.");
        var now = clock.UtcNow;
        var decision = PromotionRules.Decide(_promotion, now, walletCreatedAt, code.SingleUse && code.RedeemedBy is { } by && by != request.WalletId);
        if (decision.Refusal is { } refused) return await RefuseAsync(request, refused, decision.Detail!);
        var reservation = new Reservation(Id, request.WalletId, request.IdempotencyKey, code.Code, false, _promotion.Amount, decision.LotExpiresAt, null);
        switch (await store.ReserveAsync(reservation, code.SingleUse, PromotionRules.EffectiveCap(_promotion), now))
        {
            case ReserveOutcome.Reserved:
                _promotion = _promotion with { Redemptions = _promotion.Redemptions + 1 };
                return await CompleteAsync(reservation, replayed: false);
            case ReserveOutcome.CodeTaken:
                return await RefuseAsync(request, RedemptionStatus.Exhausted, "This code has already been used.");
            case ReserveOutcome.AlreadyRedeemed:
                return await RefuseAsync(request, RedemptionStatus.AlreadyRedeemed, "This wallet has redeemed this promotion already.");
            case ReserveOutcome.KeyTaken:
                return new RedemptionResult(RedemptionStatus.IdempotencyConflict,
                    Detail: $"Idempotency key '{request.IdempotencyKey}' was used to redeem another code.");
            default:
                // Another activation (a cluster healing from a split) moved the count or the state: the database says which.
                _promotion = await store.ReadAsync(Id) ?? _promotion;
                return _promotion.Disabled
                    ? await RefuseAsync(request, RedemptionStatus.Ended, "This promotion has been disabled.")
                    : await RefuseAsync(request, RedemptionStatus.Exhausted, "This promotion has been fully redeemed.");
        }
    }

    private async Task<RedemptionResult> RefuseAsync(RedemptionRequest request, RedemptionStatus status, string detail)
    {
        var refusal = new RedemptionResult(status, Id, Detail: detail);
        await store.RecordRefusalAsync(request, refusal, clock.UtcNow);
        return refusal;
    }

    /// <summary>Grants a reservation's lot (again: the wallet answers a repeat from its idempotency record) and marks it done.</summary>
    private async Task<RedemptionResult> CompleteAsync(Reservation r, bool replayed)
    {
        if (r.Done) return new RedemptionResult(RedemptionStatus.Redeemed, Id, r.LotId, r.Amount, r.LotExpiresAt, replayed);
        var wallet = GrainFactory.GetGrain<IWalletGrain>(r.WalletId);
        var granted = await wallet.Credit(new CreditRequest(GrantKey(Id), LedgerEntryKind.Grant, r.Amount, SourceOf(Id), r.LotExpiresAt));
        if (granted.Succeeded)
        {
            Invariant.Check(granted.LotId is not null, "a grant creates a lot");
            await store.MarkDoneAsync(Id, r.WalletId, granted.LotId!.Value);
            BillingDiagnostics.Write(new PromotionRedeemed(Id, r.WalletId, granted.LotId.Value));
            return new RedemptionResult(RedemptionStatus.Redeemed, Id, granted.LotId, r.Amount, r.LotExpiresAt, replayed);
        }
        if (replayed && granted.Status != WalletOpStatus.IdempotencyConflict)
        {
            // A repeat refused: an earlier attempt may have committed the lot (an older silo refuses a past expiry before
            // looking the key up), so the reservation stays pending and counted; the reminder asks again.
            LogReplayRefused(logger, Id, r.WalletId, granted.ErrorCode ?? granted.Status.ToString());
            throw new TimeoutException($"The redemption of promotion {Id} by wallet {r.WalletId} is not complete yet; retry with the same key.");
        }
        // A definite "not granted": the first attempt of a reservation made by this call (nothing can have been committed
        // under its key), or the key holds another request. The reservation and its count are given back.
        LogReleased(logger, Id, r.WalletId, granted.ErrorCode ?? granted.Status.ToString());
        await store.ReleaseAsync(r);
        _promotion = await store.ReadAsync(Id) ?? _promotion;
        return granted.Status == WalletOpStatus.IdempotencyConflict
            ? new RedemptionResult(RedemptionStatus.IdempotencyConflict, Detail: granted.Detail)
            : new RedemptionResult(RedemptionStatus.Ended, Id, Detail: "This promotion's credits expired before they could be granted.");
    }

    private async Task CompletePendingAsync()
    {
        foreach (var pending in await store.PendingAsync(Id))
        {
            try
            {
                await CompleteAsync(pending, replayed: true);
                LogRecovered(logger, Id, pending.WalletId);
            }
            catch (Exception e) when (e is not InvariantViolationException)
            {
                LogRecoveryFailed(logger, e, Id, pending.WalletId); // the next activation or reminder tick tries again
            }
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != RecoveryReminder || _promotion is null) return;
        await CompletePendingAsync();
        _promotion = await store.ReadAsync(Id) ?? _promotion;
        if (IsOver(_promotion, clock.UtcNow) && (await store.PendingAsync(Id)).Count == 0 && await this.GetReminder(RecoveryReminder) is { } reminder)
            await this.UnregisterReminder(reminder);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion {PromotionId} created with {CodeCount} code(s) of {AmountUsd} USD")]
    private static partial void LogCreated(ILogger logger, string promotionId, int codeCount, decimal amountUsd);

    [LoggerMessage(Level = LogLevel.Information, Message = "Promotion {PromotionId}: the pending redemption of wallet {WalletId} was completed")]
    private static partial void LogRecovered(ILogger logger, string promotionId, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion {PromotionId}: the pending redemption of wallet {WalletId} could not be completed yet")]
    private static partial void LogRecoveryFailed(ILogger logger, Exception exception, string promotionId, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion {PromotionId}: the recovery reminder could not be registered")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string promotionId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion {PromotionId}: wallet {WalletId} refused a repeated grant ({Reason}); the reservation stays pending")]
    private static partial void LogReplayRefused(ILogger logger, string promotionId, string walletId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Promotion {PromotionId}: wallet {WalletId} refused the grant ({Reason}); the reservation was released")]
    private static partial void LogReleased(ILogger logger, string promotionId, string walletId, string reason);
}

/// <summary>A redemption's lot was granted (diagnostics for tests and traces).</summary>
public sealed record PromotionRedeemed(string PromotionId, string WalletId, long LotId);
