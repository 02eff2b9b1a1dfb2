namespace Qubrid.Core;

/// <summary>
/// Spend controls on the book (docs/rules.md: holds, spending limits, auto top-up). Pure like the rest of the book:
/// the caller passes the time; the platform's rules come from <see cref="Policy"/>.
/// </summary>
public sealed partial class WalletBook
{
    private readonly Dictionary<long, Hold> _holds;

    /// <summary>The platform's rules this wallet applies (charge interval, default limits, top-up bounds).</summary>
    public WalletPolicy Policy { get; set; } = WalletPolicy.None;

    public long NextHoldNumber { get; private set; }
    public LimitSettings Limits { get; private set; }
    public SpendTally Spent { get; private set; }
    public AutoTopupState AutoTopup { get; private set; }

    public IReadOnlyList<Hold> ActiveHolds(DateTimeOffset now) =>
        _holds.Values.Where(h => h.HeldAt(now).IsPositive).OrderBy(h => h.Number).ToList();

    public Hold? FindHold(long number) => _holds.GetValueOrDefault(number);

    /// <summary>What the holds the owner's orchestrator created, and refunds to the card not settled yet, keep from <c>available</c>.</summary>
    public Micros ExplicitHeld(DateTimeOffset now)
    {
        var held = Micros.Zero;
        foreach (var h in _holds.Values) held += h.HeldAt(now);
        return held + RefundsReserved();
    }

    /// <summary>Each running session holds its next interval's charge (internal: counted in held, never listed).</summary>
    public Micros SessionHeld()
    {
        if (Policy.SessionHoldInterval <= TimeSpan.Zero) return Micros.Zero;
        var held = Micros.Zero;
        foreach (var s in _sessions.Values)
        {
            if (s.State == SessionState.Running) held += SessionHoldOf(s);
        }
        return held;
    }

    private Micros SessionHoldOf(SessionView s) =>
        Policy.SessionHoldInterval <= TimeSpan.Zero ? Micros.Zero
            : Metering.Owed(s.UsdPerHour, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch + Policy.SessionHoldInterval);

    // R-HOLD-1: available = total − held; SpendableFor (WalletBook.Scopes.cs) is what a session charge or a correction may take.
    public Micros Held(DateTimeOffset now) => ExplicitHeld(now) + SessionHeld();

    // ---- Spending limits -------------------------------------------------------------------------------------

    /// <summary>Spent in the current period: the ledger's spending entries, plus active holds created in it.</summary>
    public Micros SpentIn(SpendPeriod period, DateTimeOffset now)
    {
        var spent = Spent.SpentIn(period, now);
        var start = SpendPeriods.StartOf(period, now);
        foreach (var h in _holds.Values)
        {
            if (h.HeldAt(now).IsPositive && SpendPeriods.StartOf(period, h.CreatedAt) == start) spent += h.Amount;
        }
        return spent;
    }

    /// <summary>What may still be spent before a limit is passed (the smallest over the periods); null when no limit applies.</summary>
    public Micros? Headroom(DateTimeOffset now)
    {
        Micros? least = null;
        foreach (var period in SpendPeriods.All)
        {
            if (Limits.Effective(period, Policy.DefaultLimits) is not { } limit) continue;
            var left = limit - SpentIn(period, now);
            if (left.IsNegative) left = Micros.Zero;
            if (least is null || left < least.Value) least = left;
        }
        return least;
    }

    // R-LIMIT-1: refused when spent + amount passes a limit; landing on it passes.
    /// <summary>Why spending <paramref name="amount"/> now would pass a limit, or null when it would not (landing exactly on it passes).</summary>
    private string? OverLimit(Micros amount, DateTimeOffset now)
    {
        foreach (var period in SpendPeriods.All)
        {
            if (Limits.Effective(period, Policy.DefaultLimits) is not { } limit) continue;
            var spent = SpentIn(period, now);
            if (spent + amount > limit)
                return $"The wallet's limit is {limit.ToUsd():0.######} USD per {period.ToWire()}; {spent.ToUsd():0.######} USD is spent this {period.ToWire()}, so {amount.ToUsd():0.######} USD more would pass it.";
        }
        return null;
    }

    // R-LIMIT-2: a start must leave its minimum runway within every limit (session charges and spend_limit ends: ChargeSession, CheckSpendLimits).
    /// <summary>Why a session start would pass a limit: spent + (burn of all running sessions and the new one) × minimum runway.</summary>
    private string? StartPassesLimit(decimal burnPerHour, TimeSpan minimumRunway, DateTimeOffset now)
    {
        var needed = Metering.Owed(burnPerHour, now, now + minimumRunway);
        return OverLimit(needed, now) is { } reason ? $"Starting would burn {needed.ToUsd():0.######} USD over the minimum runway. {reason}" : null;
    }

    public void SetLimits(LimitScope scope, SpendLimits limits)
    {
        Limits = scope == LimitScope.Owner ? Limits with { Owner = limits } : Limits with { Admin = limits };
        Changes.ControlsChanged = true;
    }

    public LimitsView ToLimitsView(DateTimeOffset now) =>
        new(Limits.EffectiveLimits(Policy.DefaultLimits), Limits.Owner, Limits.Admin,
            SpentIn(SpendPeriod.Hour, now), SpentIn(SpendPeriod.Day, now), SpentIn(SpendPeriod.Month, now));

    /// <summary>
    /// After a batch that spent or reached a limit (<paramref name="batch"/>, else nothing): raises spend_limit_warning (at
    /// <see cref="WalletPolicy.WarningPercent"/>) and spend_limit_reached once per period, and when a limit is reached ends every
    /// running session (start order) with reason spend_limit, each charged up to what the limit still allows.
    /// Returns what those charges did, for the rules after this one.
    /// </summary>
    public BatchEffects CheckSpendLimits(BatchEffects batch, DateTimeOffset now)
    {
        if (!batch.Spent && !batch.LimitReached) return BatchEffects.None;
        var (raised, atLimit, limits) = LimitSettings.DecideEvents(Limits, period => SpentIn(period, now), Policy, now);
        Limits = limits;
        foreach (var crossing in raised) Changes.Events.Add(LimitEvent(crossing, now));
        if (raised.Count > 0) Changes.ControlsChanged = true;
        bool reached = batch.LimitReached || atLimit;
        if (!reached || Headroom(now) is not { } headroom || headroom.IsPositive) return BatchEffects.None;
        var effects = BatchEffects.None;
        foreach (var running in _sessions.Values.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt).ThenBy(x => x.SessionId).ToList())
        {
            var (result, charged) = DecideSessionCharge(new SessionChargeRequest(running.SessionId, now, Final: false), now);
            effects = effects.Then(charged);
            if (result.Session is { State: SessionState.Running } still)
                Track(Terminate(still, still.ChargedThrough ?? now, EndReasons.SpendLimit, now));
        }
        return effects;
    }

    private BillingEvent LimitEvent(LimitCrossing c, DateTimeOffset now) =>
        new(0, now, c.Kind, WalletId, null, null, Balance, null,
            EventData.Of(("period", c.Period.ToWire()), ("limit", c.Limit), ("spent", c.Spent), ("periodStart", SpendPeriods.StartOf(c.Period, now))));

    // ---- Holds -----------------------------------------------------------------------------------------------

    // R-HOLD-2: when a hold is accepted.
    /// <summary>
    /// Reserves <c>request.Amount</c> until <c>request.ExpiresAt</c>. Refused (402) when available does not cover it, when the lots
    /// still unexpired at its expiry do not cover it with the other holds, or when it would pass a limit (an active hold counts as spent).
    /// </summary>
    public BookOutcome CreateHold(HoldRequest request, DateTimeOffset now)
    {
        Invariant.Check(request.Amount.IsPositive, "a hold reserves a positive amount");
        if (request.ExpiresAt <= now || request.ExpiresAt > now + Policy.HoldMaxDuration)
            return BookOutcome.Refused(ErrorCodes.InvalidExpiry,
                $"expiresAt must be after now and at most {Policy.HoldMaxDuration.TotalHours:0.##} h ahead.");
        var available = Available(now);
        if (request.Amount > available)
        {
            return BookOutcome.Insufficient(available) with
            {
                Detail = $"The wallet has {available.ToUsd():0.######} USD available, less than the {request.Amount.ToUsd():0.######} USD to hold.",
                Effects = BatchEffects.AutoTopupCheck,
            };
        }
        var coveredAtExpiry = Allocator.Available(_lots.Values.Where(l => l.Scope is null), request.ExpiresAt) - ExplicitHeld(now);
        if (request.Amount > coveredAtExpiry)
        {
            return BookOutcome.Insufficient(available) with
            {
                Detail = $"Credits still valid at {request.ExpiresAt:O} cover {(coveredAtExpiry.IsNegative ? Micros.Zero : coveredAtExpiry).ToUsd():0.######} USD beside the other holds, less than {request.Amount.ToUsd():0.######} USD.",
            };
        }
        if (OverLimit(request.Amount, now) is { } overLimit) return BookOutcome.OverLimit(available, overLimit);
        var hold = new Hold(NextHoldNumber++, request.Amount, Micros.Zero, HoldState.Active, now, request.ExpiresAt, request.Reference);
        TrackHold(hold);
        return new BookOutcome(WalletOpStatus.Applied, null, hold.Number, Available(now), Effects: BatchEffects.Spending);
    }

    // R-HOLD-3: capture at most the hold, release the rest; 0 voids.
    /// <summary>Captures at most the held amount (a hold_capture debit in consumption order; the rest released; 0 voids), or voids it.</summary>
    public BookOutcome SettleHold(HoldSettleRequest request, DateTimeOffset now)
    {
        if (FindActiveHold(request.HoldNumber, now, out var hold) is { } refused) return refused;
        if (request.Void || !request.Amount.IsPositive)
        {
            TrackHold(hold! with { State = HoldState.Voided });
            return new BookOutcome(WalletOpStatus.Applied, null, hold!.Number, Available(now));
        }
        if (request.Amount > hold!.Amount)
            return BookOutcome.Refused(ErrorCodes.CaptureExceedsHold,
                $"The capture of {request.Amount.ToUsd():0.######} USD exceeds the {hold.Amount.ToUsd():0.######} USD held.");
        TrackHold(hold with { State = HoldState.Captured, Captured = request.Amount });
        var debit = new DebitRequest(request.IdempotencyKey, LedgerEntryKind.HoldCapture, request.Amount,
            hold.Reference.Length > 0 ? hold.Reference : HoldIds.Format(WalletId, hold.Number));
        var outcome = DebitWithin(debit, now, SpendableFor(null, now));
        Invariant.Check(outcome.Status == WalletOpStatus.Applied, "a capture within an active hold is always covered");
        return outcome with { LotId = hold.Number };
    }

    // R-HOLD-4: the part within the hold is never refused; the excess comes from available and the limits.
    /// <summary>An inference charge within a hold: never refused within it; the excess comes from available or the charge is refused (the hold stays).</summary>
    private BookOutcome ChargeWithinHold(DebitRequest charge, Hold hold, DateTimeOffset now)
    {
        var excess = charge.Amount - hold.Amount;
        if (excess.IsPositive)
        {
            var available = AvailableFor(charge.Usage, now);
            if (excess > available)
            {
                return BookOutcome.Insufficient(available) with
                {
                    Detail = $"The query costs {charge.Amount.ToUsd():0.######} USD: {excess.ToUsd():0.######} USD above its hold, and {available.ToUsd():0.######} USD is available.",
                    Effects = BatchEffects.AutoTopupCheck,
                };
            }
            if (OverLimit(excess, now) is { } overLimit) return BookOutcome.OverLimit(available, overLimit);
        }
        var captured = Micros.Min(charge.Amount, hold.Amount);
        TrackHold(hold with { State = captured.IsPositive ? HoldState.Captured : HoldState.Voided, Captured = captured });
        if (!charge.Amount.IsPositive) return new BookOutcome(WalletOpStatus.Applied, null, null, Available(now));
        var outcome = DebitWithin(charge, now, SpendableFor(charge.Usage, now));
        Invariant.Check(outcome.Status == WalletOpStatus.Applied, "a charge within a hold, its excess checked, is always covered");
        return outcome with { Effects = outcome.Effects.Then(BatchEffects.AutoTopupCheck) };
    }

    private BookOutcome? FindActiveHold(long number, DateTimeOffset now, out Hold? hold)
    {
        hold = _holds.GetValueOrDefault(number);
        if (hold is null) return BookOutcome.Refused(ErrorCodes.HoldNotFound, $"Hold {HoldIds.Format(WalletId, number)} does not exist.");
        if (hold.State != HoldState.Active || now >= hold.ExpiresAt)
            return BookOutcome.Refused(ErrorCodes.HoldNotActive, $"Hold {HoldIds.Format(WalletId, number)} is {(hold.State == HoldState.Active ? "expired" : hold.State.ToWire())}.");
        return null;
    }

    /// <summary>Whether the book may answer for this hold number (false: it may exist but was settled before this activation).</summary>
    public bool KnowsHold(long number) => _holds.ContainsKey(number) || number >= NextHoldNumber;

    /// <summary>Makes a stored (settled) hold known to the book without counting it as a change.</summary>
    public void AddKnownHold(Hold hold) => _holds.TryAdd(hold.Number, hold);

    // R-HOLD-5: a hold expires at expiresAt in the wallet's next batch (hold_expired).
    /// <summary>Active holds whose expiry has come become expired (an event each).</summary>
    private void ExpireHolds(DateTimeOffset now)
    {
        foreach (var hold in _holds.Values.Where(h => h.State == HoldState.Active && h.ExpiresAt <= now).OrderBy(h => h.Number).ToList())
        {
            TrackHold(hold with { State = HoldState.Expired });
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.HoldExpired, WalletId, null, null, Balance, null,
                EventData.Of(("holdId", HoldIds.Format(WalletId, hold.Number)), ("amount", hold.Amount), ("reference", hold.Reference))));
        }
    }

    private void TrackHold(Hold hold)
    {
        _holds[hold.Number] = hold;
        Changes.Holds[hold.Number] = hold;
    }

    /// <summary>Forgets settled holds, so only active ones stay in memory.</summary>
    public void ForgetSettledHolds()
    {
        foreach (var settled in _holds.Values.Where(h => h.State != HoldState.Active).Select(h => h.Number).ToList()) _holds.Remove(settled);
    }

    // ---- Auto top-up -----------------------------------------------------------------------------------------

    /// <summary>Sets the auto top-up (validated by the caller). Turning it on clears past failures.</summary>
    public void ConfigureAutoTopup(AutoTopupSettings settings)
    {
        AutoTopup = AutoTopupState.Configure(AutoTopup, settings);
        Changes.ControlsChanged = true;
    }

    public AutoTopupView ToAutoTopupView(DateTimeOffset now)
    {
        var a = AutoTopup;
        return new AutoTopupView(a.Enabled, a.Threshold, a.Target, a.MonthlyCap, a.SpentIn(now), a.ConsecutiveFailures, a.DisabledReason,
            a.InFlight is not null, a.Configured);
    }

    /// <summary>
    /// After a batch (<paramref name="batch"/>: what its decisions did): the attempt <see cref="AutoTopupState.DecideStart"/> decides,
    /// if any, in <see cref="BookChanges.AutoTopupStarted"/>. It is started once the batch is durable.
    /// </summary>
    public void MaybeStartAutoTopup(BatchEffects batch, DateTimeOffset now)
    {
        if (!batch.AutoTopupTrigger) return; // available is not even computed
        var (started, next) = AutoTopupState.DecideStart(AutoTopup, batch, Available(now), Policy, now);
        if (started is null) return;
        AutoTopup = next;
        Changes.ControlsChanged = true;
        Changes.AutoTopupStarted = started;
    }

    /// <summary>The attempt in flight, to resume after a crash; null when none is.</summary>
    public AutoTopupAttempt? AutoTopupInFlight =>
        AutoTopup is { InFlight: { } attempt, PaymentToken: { } token } a ? new AutoTopupAttempt(attempt, a.InFlightAmount, token) : null;

    /// <summary>
    /// Records how attempt <paramref name="attempt"/> ended. A success counts against the month's cap; a failure waits
    /// <see cref="WalletPolicy.AutoTopupRetryAfter"/>, and the last of <see cref="WalletPolicy.AutoTopupMaxFailures"/> in a row
    /// turns the auto top-up off (auto_topup_disabled). Another attempt's report changes nothing.
    /// </summary>
    public void SettleAutoTopup(long attempt, bool succeeded, string? failure, DateTimeOffset now)
    {
        if (AutoTopupState.DecideSettlement(AutoTopup, attempt, succeeded, Policy, now) is not { } settled) return;
        var (next, disabled) = settled;
        AutoTopup = next;
        Changes.ControlsChanged = true;
        if (disabled)
        {
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.AutoTopupDisabled, WalletId, null, "payment_failed", Balance, null,
                EventData.Of(("consecutiveFailures", next.ConsecutiveFailures), ("lastFailure", failure))));
        }
    }
}
