namespace Qubrid.Core;

/// <summary>
/// Scoped credits on the book (docs/rules.md#R-SCOPE-1..4): a scoped lot pays only for the usage it matches, so
/// <c>available</c>, what a debit may take and the runway count it only for that usage.
/// </summary>
public sealed partial class WalletBook
{
    /// <summary>Live unscoped lots: what any debit may take.</summary>
    public Micros GenericLive(DateTimeOffset now) => LiveWhere(now, l => l.Scope is null);

    /// <summary>Live scoped lots (the balance's <c>scoped</c>).</summary>
    public Micros ScopedLive(DateTimeOffset now) => LiveWhere(now, l => l.Scope is not null);

    /// <summary>Live scoped lots that may pay for <paramref name="usage"/>.</summary>
    public Micros MatchingScopedLive(UsageTags? usage, DateTimeOffset now) =>
        LiveWhere(now, l => l.Scope is not null && CreditScopes.Matches(l.Scope, usage));

    private Micros LiveWhere(DateTimeOffset now, Func<CreditLot, bool> which)
    {
        var sum = Micros.Zero;
        foreach (var lot in _lots.Values)
        {
            if (!lot.IsExpiredAt(now) && which(lot)) sum += lot.Remaining;
        }
        return sum;
    }

    private bool HasLiveScopedLots(DateTimeOffset now) => _lots.Values.Any(l => l.Scope is not null && l.Remaining.IsPositive && !l.IsExpiredAt(now));

    // R-SCOPE-3: holds reserve unscoped credits only; a debit counts scoped lots only for the usage they match.
    /// <summary>
    /// What a spending debit for <paramref name="usage"/> may take: <c>available</c> (unscoped, less every hold) plus the
    /// scoped lots that match the usage. A hold carries no usage, so holds are reserved from unscoped lots only.
    /// </summary>
    public Micros AvailableFor(UsageTags? usage, DateTimeOffset now) => Available(now) + MatchingScopedLive(usage, now);

    /// <summary>
    /// What a session charge or a correction for <paramref name="usage"/> may take: unscoped lots less what explicit holds keep
    /// (never below zero), plus the scoped lots that match the usage (none for a correction, which carries no usage).
    /// </summary>
    private Micros SpendableFor(UsageTags? usage, DateTimeOffset now)
    {
        var generic = GenericLive(now) - ExplicitHeld(now);
        return (generic.IsNegative ? Micros.Zero : generic) + MatchingScopedLive(usage, now);
    }

    /// <summary>What the internal holds of running sessions keep from unscoped lots: each session's hold less what its matching scoped lots cover.</summary>
    private Micros SessionHeldFromUnscoped(DateTimeOffset now)
    {
        var held = SessionHeld();
        if (!held.IsPositive || !HasLiveScopedLots(now)) return held;
        var claims = RunningInStartOrder().Select(s => (Usage: UsageOf(s), Need: SessionHoldOf(s))).ToList();
        var covered = ScopedCover(claims, now);
        return held - covered;
    }

    private IEnumerable<SessionView> RunningInStartOrder() =>
        _sessions.Values.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt).ThenBy(x => x.SessionId, StringComparer.Ordinal);

    private static UsageTags UsageOf(SessionView s) => new(s.SessionId, s.InstanceType, null, s.Workload);

    /// <summary>
    /// How much of the claims (in order) the live scoped lots can pay, each claim taking from the scoped lots it matches in
    /// consumption order and leaving what it takes to no later claim. Greedy, as debits themselves are.
    /// </summary>
    private Micros ScopedCover(IReadOnlyList<(UsageTags Usage, Micros Need)> claims, DateTimeOffset now)
    {
        var left = _lots.Values.Where(l => l.Scope is not null).ToDictionary(l => l.Id, l => l.Remaining);
        var covered = Micros.Zero;
        foreach (var (usage, need) in claims)
        {
            var wanted = need;
            foreach (var lot in Allocator.ConsumptionOrder(_lots.Values, now, usage))
            {
                if (!wanted.IsPositive || lot.Scope is null) break; // scoped lots come first: the first unscoped one ends them
                var take = Micros.Min(wanted, left[lot.Id]);
                left[lot.Id] -= take;
                wanted -= take;
                covered += take;
            }
        }
        return covered;
    }

    // R-SCOPE-4: runway funds count a scoped lot only for the sessions it matches, up to what they owe and burn over the horizon.
    /// <summary>
    /// The runway funds of <paramref name="sessions"/> over <paramref name="horizon"/>: unscoped lots less explicit holds and
    /// what the sessions owe but have not been charged, plus what matching scoped lots pay of each session's unbilled charge
    /// and its burn over the horizon. Without scoped lots it is exactly unscoped − holds − unbilled (R-SESS-2).
    /// </summary>
    private Micros RunwayFundsFor(IReadOnlyList<SessionView> sessions, TimeSpan horizon, DateTimeOffset now)
    {
        var unbilled = Micros.Zero;
        var claims = new List<(UsageTags, Micros)>(sessions.Count);
        foreach (var s in sessions)
        {
            var due = Metering.Owed(s.UsdPerHour, s.StartedAt, now) - s.Charged;
            if (!due.IsPositive) due = Micros.Zero;
            unbilled += due;
            claims.Add((UsageOf(s), due + Metering.Owed(s.UsdPerHour, now, now + horizon)));
        }
        var covered = HasLiveScopedLots(now) ? ScopedCover(claims, now) : Micros.Zero;
        var funds = GenericLive(now) - ExplicitHeld(now) - unbilled + covered;
        return funds.IsNegative ? Micros.Zero : funds;
    }

    /// <summary>The runway of the running sessions (seconds, rounded down; null when nothing burns) and the funds it is counted from.</summary>
    public (Micros Funds, long? Seconds) Runway(DateTimeOffset now)
    {
        var burn = BurnRatePerHour;
        var running = RunningInStartOrder().ToList();
        if (!HasLiveScopedLots(now) || burn <= 0)
        {
            var funds = RunwayFunds(now);
            return (funds, Metering.RunwaySeconds(funds, burn));
        }
        // With scoped lots the funds depend on the horizon (a scoped lot pays only its sessions' share of it): the runway is
        // the longest whole number of seconds whose funds cover the burn. Funds grow no faster than the burn, so it is monotone.
        long lo = 0, hi = Math.Min(MaxRunwaySeconds, (long)decimal.Ceiling(Live(now).ToUsd() * 3600m / burn) + 1);
        if (!Covers(running, burn, 0, now)) return (RunwayFundsFor(running, TimeSpan.Zero, now), 0);
        while (lo < hi)
        {
            long mid = lo + (hi - lo + 1) / 2;
            if (Covers(running, burn, mid, now)) lo = mid;
            else hi = mid - 1;
        }
        return (RunwayFundsFor(running, TimeSpan.FromSeconds(lo), now), lo);
    }

    private const long MaxRunwaySeconds = 100L * 366 * 24 * 3600;

    private bool Covers(IReadOnlyList<SessionView> running, decimal burn, long seconds, DateTimeOffset now) =>
        RunwayFundsFor(running, TimeSpan.FromSeconds(seconds), now) >= Metering.Owed(burn, now, now + TimeSpan.FromSeconds(seconds));
}
