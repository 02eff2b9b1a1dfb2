namespace Qubrid.Core;

/// <summary>A hold on a wallet's funds (docs/rules.md#R-HOLD-1). <c>Captured</c> is what its capture took.</summary>
public sealed record Hold(long Number, Micros Amount, Micros Captured, HoldState State, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string Reference)
{
    /// <summary>What the hold keeps from <c>available</c> at <paramref name="now"/>: its amount while active and not past its expiry.</summary>
    public Micros HeldAt(DateTimeOffset now) => State == HoldState.Active && now < ExpiresAt ? Amount : Micros.Zero;

    public HoldView ToView(string walletId) => new(HoldIds.Format(walletId, Number), walletId, Amount, Captured, State, CreatedAt, ExpiresAt, Reference);
}

/// <summary>The start of the UTC calendar period holding an instant.</summary>
public static class SpendPeriods
{
    public static readonly SpendPeriod[] All = [SpendPeriod.Hour, SpendPeriod.Day, SpendPeriod.Month];

    public static DateTimeOffset StartOf(SpendPeriod period, DateTimeOffset at)
    {
        var u = at.ToUniversalTime();
        return period switch
        {
            SpendPeriod.Hour => new DateTimeOffset(u.Year, u.Month, u.Day, u.Hour, 0, 0, TimeSpan.Zero),
            SpendPeriod.Day => new DateTimeOffset(u.Year, u.Month, u.Day, 0, 0, 0, TimeSpan.Zero),
            _ => new DateTimeOffset(u.Year, u.Month, 1, 0, 0, 0, TimeSpan.Zero),
        };
    }

    public static string ToWire(this SpendPeriod period) => period switch
    {
        SpendPeriod.Hour => "hour",
        SpendPeriod.Day => "day",
        _ => "month",
    };

    /// <summary>
    /// Ledger kinds that count as spending against a limit (docs/rules.md#R-LIMIT-1). The one list: the SQL that sums
    /// spending takes it as a parameter (<see cref="SpendingKindsWire"/>).
    /// </summary>
    public static readonly IReadOnlyList<LedgerEntryKind> SpendingKinds =
        [LedgerEntryKind.SessionCharge, LedgerEntryKind.InferenceCharge, LedgerEntryKind.PremiumAccess, LedgerEntryKind.HoldCapture];

    /// <summary><see cref="SpendingKinds"/> as stored in <c>qubrid_ledger.kind</c>, for a <c>kind = ANY($n)</c> parameter.</summary>
    public static readonly string[] SpendingKindsWire = SpendingKinds.ToWire();

    public static bool IsSpending(LedgerEntryKind kind) => SpendingKinds.Contains(kind);
}

/// <summary>
/// What the ledger's spending entries took in the current hour, day and month (loaded with the book, kept up to date by it).
/// A period that has rolled over counts from zero.
/// </summary>
public sealed record SpendTally(DateTimeOffset HourStart, Micros Hour, DateTimeOffset DayStart, Micros Day, DateTimeOffset MonthStart, Micros Month)
{
    public static SpendTally Empty(DateTimeOffset now) =>
        new(SpendPeriods.StartOf(SpendPeriod.Hour, now), Micros.Zero, SpendPeriods.StartOf(SpendPeriod.Day, now), Micros.Zero,
            SpendPeriods.StartOf(SpendPeriod.Month, now), Micros.Zero);

    public Micros SpentIn(SpendPeriod period, DateTimeOffset now)
    {
        var (start, amount) = period switch
        {
            SpendPeriod.Hour => (HourStart, Hour),
            SpendPeriod.Day => (DayStart, Day),
            _ => (MonthStart, Month),
        };
        return SpendPeriods.StartOf(period, now) == start ? amount : Micros.Zero;
    }

    /// <summary>The tally with <paramref name="amount"/> spent at <paramref name="at"/>; a period that began since restarts from it.</summary>
    public SpendTally Add(Micros amount, DateTimeOffset at)
    {
        static (DateTimeOffset, Micros) Roll(SpendPeriod p, DateTimeOffset start, Micros sum, Micros amount, DateTimeOffset at)
        {
            var current = SpendPeriods.StartOf(p, at);
            return current > start ? (current, amount) : (start, sum + amount); // an instant behind the period (a skewed clock) counts in it
        }
        var (hs, h) = Roll(SpendPeriod.Hour, HourStart, Hour, amount, at);
        var (ds, d) = Roll(SpendPeriod.Day, DayStart, Day, amount, at);
        var (ms, m) = Roll(SpendPeriod.Month, MonthStart, Month, amount, at);
        return new SpendTally(hs, h, ds, d, ms, m);
    }
}

/// <summary>The start of the period for which an event was raised, per period (so that it is raised once per period).</summary>
public sealed record PeriodMarks(DateTimeOffset? Hour = null, DateTimeOffset? Day = null, DateTimeOffset? Month = null)
{
    public DateTimeOffset? Get(SpendPeriod period) => period switch
    {
        SpendPeriod.Hour => Hour,
        SpendPeriod.Day => Day,
        _ => Month,
    };

    public PeriodMarks Set(SpendPeriod period, DateTimeOffset start) => period switch
    {
        SpendPeriod.Hour => this with { Hour = start },
        SpendPeriod.Day => this with { Day = start },
        _ => this with { Month = start },
    };
}

/// <summary>A wallet's limits by scope and the events they raised.</summary>
public sealed record LimitSettings(SpendLimits Owner, SpendLimits Admin, PeriodMarks Warned, PeriodMarks Reached)
{
    public static LimitSettings None { get; } = new(SpendLimits.None, SpendLimits.None, new PeriodMarks(), new PeriodMarks());

    /// <summary>The lower of the owner's and the admin's limit; a null admin limit means the platform default.</summary>
    public Micros? Effective(SpendPeriod period, SpendLimits platformDefault)
    {
        var admin = Admin.For(period) ?? platformDefault.For(period);
        var owner = Owner.For(period);
        if (admin is null) return owner;
        if (owner is null) return admin;
        return Micros.Min(admin.Value, owner.Value);
    }

    public SpendLimits EffectiveLimits(SpendLimits platformDefault) =>
        new(Effective(SpendPeriod.Hour, platformDefault), Effective(SpendPeriod.Day, platformDefault), Effective(SpendPeriod.Month, platformDefault));

    // R-LIMIT-3: spend_limit_warning and spend_limit_reached once per period.
    /// <summary>
    /// After a batch that spent or reached a limit: the spend_limit_warning (at <see cref="WalletPolicy.WarningPercent"/>)
    /// and spend_limit_reached events not yet raised in their period, period by period, whether some limit is reached, and the
    /// settings with those events marked.
    /// </summary>
    public static (IReadOnlyList<LimitCrossing> Raised, bool AtLimit, LimitSettings Next) DecideEvents(
        LimitSettings limits, Func<SpendPeriod, Micros> spentIn, WalletPolicy policy, DateTimeOffset now)
    {
        var raised = new List<LimitCrossing>();
        bool atAny = false;
        foreach (var period in SpendPeriods.All)
        {
            if (limits.Effective(period, policy.DefaultLimits) is not { } limit) continue;
            var spent = spentIn(period);
            var start = SpendPeriods.StartOf(period, now);
            bool atLimit = spent >= limit;
            if (spent.Value * 100 >= limit.Value * policy.WarningPercent && limits.Warned.Get(period) != start)
            {
                limits = limits with { Warned = limits.Warned.Set(period, start) };
                raised.Add(new LimitCrossing(EventKinds.SpendLimitWarning, period, limit, spent));
            }
            if (atLimit && limits.Reached.Get(period) != start)
            {
                limits = limits with { Reached = limits.Reached.Set(period, start) };
                raised.Add(new LimitCrossing(EventKinds.SpendLimitReached, period, limit, spent));
            }
            atAny |= atLimit;
        }
        return (raised, atAny, limits);
    }
}

/// <summary>A limit event to raise: spend_limit_warning or spend_limit_reached, for a period, with its limit and what the period spent.</summary>
public readonly record struct LimitCrossing(string Kind, SpendPeriod Period, Micros Limit, Micros Spent);

/// <summary>
/// The auto top-up's configuration and where it stands: at most one attempt in flight (<c>InFlight</c>, its number and
/// amount); after a failure none starts before <c>RetryAt</c>; after <c>MaxFailures</c> failures in a row it turns itself off.
/// </summary>
public sealed record AutoTopupState(
    bool Enabled,
    Micros Threshold,
    Micros Target,
    string? PaymentToken,
    Micros MonthlyCap,
    DateTimeOffset? MonthStart,
    Micros SpentThisMonth,
    int ConsecutiveFailures,
    string? DisabledReason,
    long NextAttempt,
    long? InFlight,
    Micros InFlightAmount,
    DateTimeOffset? RetryAt)
{
    public static AutoTopupState Off { get; } = new(false, Micros.Zero, Micros.Zero, null, Micros.Zero, null, Micros.Zero, 0, null, 1, null, Micros.Zero, null);

    public bool Configured => PaymentToken is not null;

    public Micros SpentIn(DateTimeOffset now) =>
        MonthStart == SpendPeriods.StartOf(SpendPeriod.Month, now) ? SpentThisMonth : Micros.Zero;

    /// <summary>The state with <paramref name="settings"/> (validated by the caller). Turning it on clears past failures.</summary>
    public static AutoTopupState Configure(AutoTopupState a, AutoTopupSettings settings)
    {
        a = a with
        {
            Enabled = settings.Enabled,
            Threshold = settings.Threshold,
            Target = settings.Target,
            PaymentToken = settings.PaymentToken,
            MonthlyCap = settings.MonthlyCap,
        };
        return settings.Enabled ? a with { ConsecutiveFailures = 0, DisabledReason = null, RetryAt = null } : a;
    }

    // R-AUTO-1: when an attempt starts, and its amount.
    /// <summary>
    /// After a batch in which a debit, a hold or an insufficient-credits refusal happened (<paramref name="batch"/>, else none):
    /// when <paramref name="available"/> is below the threshold and no attempt is in flight (nor waiting after a failure), the next
    /// attempt: max(target − available, minimum top-up), within the maximum top-up and what the month's cap leaves;
    /// with the state that has it in flight. Null and the same state when none starts.
    /// </summary>
    public static (AutoTopupAttempt? Started, AutoTopupState Next) DecideStart(
        AutoTopupState a, BatchEffects batch, Micros available, WalletPolicy policy, DateTimeOffset now)
    {
        if (!batch.AutoTopupTrigger || !a.Enabled || a.InFlight is not null || a.PaymentToken is null) return (null, a);
        if (a.RetryAt is { } retryAt && now < retryAt) return (null, a);
        if (available >= a.Threshold) return (null, a);
        var amount = a.Target - available;
        if (amount < policy.MinTopup) amount = policy.MinTopup;
        if (amount > policy.MaxTopup) amount = policy.MaxTopup;
        var capLeft = a.MonthlyCap - a.SpentIn(now);
        if (amount > capLeft) amount = capLeft;
        if (!amount.IsPositive) return (null, a);
        var next = a with { InFlight = a.NextAttempt, NextAttempt = a.NextAttempt + 1, InFlightAmount = amount };
        return (new AutoTopupAttempt(a.NextAttempt, amount, a.PaymentToken), next);
    }

    /// <summary>
    /// How attempt <paramref name="attempt"/> ended (R-AUTO-2): a success counts against the month's cap; a failure waits
    /// <see cref="WalletPolicy.AutoTopupRetryAfter"/>, and the last of <see cref="WalletPolicy.AutoTopupMaxFailures"/> in a row turns
    /// the auto top-up off (<c>Disabled</c>: auto_topup_disabled is raised). Null when the report is not about the attempt in flight.
    /// </summary>
    public static (AutoTopupState Next, bool Disabled)? DecideSettlement(
        AutoTopupState a, long attempt, bool succeeded, WalletPolicy policy, DateTimeOffset now)
    {
        if (a.InFlight != attempt) return null;
        if (succeeded)
        {
            var month = SpendPeriods.StartOf(SpendPeriod.Month, now);
            var spent = a.MonthStart == month ? a.SpentThisMonth : Micros.Zero;
            return (a with { InFlight = null, InFlightAmount = Micros.Zero, ConsecutiveFailures = 0, RetryAt = null, MonthStart = month, SpentThisMonth = spent + a.InFlightAmount }, false);
        }
        int failures = a.ConsecutiveFailures + 1;
        a = a with { InFlight = null, InFlightAmount = Micros.Zero, ConsecutiveFailures = failures, RetryAt = now + policy.AutoTopupRetryAfter };
        if (failures < policy.AutoTopupMaxFailures) return (a, false);
        return (a with { Enabled = false, DisabledReason = "payment_failed" }, true);
    }
}

/// <summary>The platform's rules a wallet applies, from configuration (set by the grain on the book it loads).</summary>
/// <param name="SessionHoldInterval">A running session holds one interval's charge (the charge interval).</param>
/// <param name="DefaultLimits">The platform's limits where the admin set none.</param>
/// <param name="WarningPercent">A spend_limit_warning is raised at this share of a limit.</param>
public sealed record WalletPolicy(
    TimeSpan SessionHoldInterval,
    SpendLimits DefaultLimits,
    int WarningPercent,
    TimeSpan HoldMaxDuration,
    Micros MinTopup,
    Micros MaxTopup,
    TimeSpan AutoTopupRetryAfter,
    int AutoTopupMaxFailures)
{
    public static WalletPolicy None { get; } =
        new(TimeSpan.Zero, SpendLimits.None, 80, TimeSpan.FromHours(24), Micros.Zero, Micros.FromUsd(10_000m), TimeSpan.FromHours(1), 3);
}

/// <summary>What a wallet loads besides its lots and sessions: active holds, limits, the period's spending and the auto top-up.</summary>
public sealed record WalletControls(IReadOnlyList<Hold> ActiveHolds, long NextHoldNumber, LimitSettings Limits, SpendTally Spent, AutoTopupState AutoTopup)
{
    public static WalletControls None { get; } = new([], 1, LimitSettings.None, SpendTally.Empty(DateTimeOffset.UnixEpoch), AutoTopupState.Off);
}
