namespace Qubrid.Core;

/// <summary>What one batch changed, for the store to write in one transaction.</summary>
public sealed class BookChanges
{
    public List<CreditLot> NewLots { get; } = [];
    public HashSet<long> TouchedLots { get; } = [];
    public List<LedgerEntryView> Entries { get; } = [];
    public Dictionary<string, SessionView> Sessions { get; } = new(StringComparer.Ordinal);
    public List<BillingEvent> Events { get; } = [];
    public bool LowBalanceFlagChanged { get; set; }

    /// <summary>Holds created or settled in the batch, by number.</summary>
    public Dictionary<long, Hold> Holds { get; } = [];

    /// <summary>Whether the limits or the auto top-up (settings or where it stands) changed.</summary>
    public bool ControlsChanged { get; set; }

    /// <summary>An automatic recharge the batch decided on: started once the batch is durable.</summary>
    public AutoTopupAttempt? AutoTopupStarted { get; set; }

    /// <summary>Per model, the fraction of a micro-credit charged for inference but not yet debited, after the batch.</summary>
    public Dictionary<string, decimal> InferenceCarry { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Entries.Count == 0 && Sessions.Count == 0 && Events.Count == 0 && !LowBalanceFlagChanged && InferenceCarry.Count == 0
        && Holds.Count == 0 && !ControlsChanged;
}

/// <summary>The outcome of applying one operation to a book.</summary>
public readonly record struct BookOutcome(WalletOpStatus Status, LedgerEntryView? Entry, long? LotId, Micros Available, string? ErrorCode = null, string? Detail = null)
{
    public static BookOutcome Insufficient(Micros available) => new(WalletOpStatus.InsufficientCredits, null, null, available, ErrorCodes.InsufficientCredits);

    /// <summary>A 402 spend_limit_exceeded: recorded under its key like an insufficient-credits refusal.</summary>
    public static BookOutcome OverLimit(Micros available, string detail) =>
        new(WalletOpStatus.InsufficientCredits, null, null, available, ErrorCodes.SpendLimitExceeded, detail);

    /// <summary>A refusal that is not recorded under the key (404 hold_not_found, 409 hold_not_active, …).</summary>
    public static BookOutcome Refused(string code, string detail) => new(WalletOpStatus.Invalid, null, null, Micros.Zero, code, detail);
}

/// <summary>
/// A wallet's lots and balance, and the rules that change them. Pure: the caller passes the time.
/// Every change appends a ledger entry whose lot movements sum to its amount, so that
/// Σ entries = balance and each lot's remaining = its movements hold by construction (asserted here).
/// </summary>
public sealed partial class WalletBook
{
    private readonly Dictionary<long, CreditLot> _lots;
    private readonly Dictionary<string, SessionView> _sessions;
    private readonly Dictionary<string, decimal> _inferenceCarry;

    public WalletBook(string walletId, Micros balance, long nextSeq, long version, IEnumerable<CreditLot> openLots,
        IEnumerable<SessionView>? sessions = null, bool lowBalanceNotified = false, IEnumerable<KeyValuePair<string, decimal>>? inferenceCarry = null,
        WalletControls? controls = null)
    {
        var c = controls ?? WalletControls.None;
        _holds = c.ActiveHolds.ToDictionary(h => h.Number);
        NextHoldNumber = c.NextHoldNumber;
        Limits = c.Limits;
        Spent = c.Spent;
        AutoTopup = c.AutoTopup;
        WalletId = walletId;
        Balance = balance;
        NextSeq = nextSeq;
        Version = version;
        _lots = openLots.ToDictionary(l => l.Id);
        _sessions = (sessions ?? []).ToDictionary(x => x.SessionId, StringComparer.Ordinal);
        _inferenceCarry = new Dictionary<string, decimal>(inferenceCarry ?? [], StringComparer.Ordinal);
        LowBalanceNotified = lowBalanceNotified;
        Changes = new BookChanges();
        AssertConsistent();
    }

    /// <summary>Whether a low-balance event was raised and the runway has not risen above the threshold since.</summary>
    public bool LowBalanceNotified { get; private set; }

    public string WalletId { get; }

    /// <summary>The stored balance: every lot's remaining, counting expired lots until their expiration entry.</summary>
    public Micros Balance { get; private set; }

    public long NextSeq { get; private set; }

    /// <summary>Optimistic-concurrency version of the wallet row this book was loaded from.</summary>
    public long Version { get; set; }

    public BookChanges Changes { get; private set; }

    /// <summary>Lots with something left (expired ones too, until their expiration entry is written).</summary>
    public IReadOnlyCollection<CreditLot> OpenLots => _lots.Values;

    public static WalletBook New(string walletId) => new(walletId, Micros.Zero, 1, 0, []);

    public WalletBook Clone() => new(WalletId, Balance, NextSeq, Version, _lots.Values, _sessions.Values, LowBalanceNotified, _inferenceCarry,
        new WalletControls(_holds.Values.ToList(), NextHoldNumber, Limits, Spent, AutoTopup)) { Policy = Policy };

    /// <summary>Per model, the fraction of a micro-credit charged for inference but not yet debited (in [0, 1)).</summary>
    public IReadOnlyDictionary<string, decimal> InferenceCarry => _inferenceCarry;

    /// <summary>Sessions the book knows: every running one, plus any looked up for the current batch.</summary>
    public IReadOnlyCollection<SessionView> Sessions => _sessions.Values;

    public SessionView? FindSession(string sessionId) => _sessions.GetValueOrDefault(sessionId);

    /// <summary>Makes a stored session known to the book without counting it as a change.</summary>
    public void AddKnownSession(SessionView session) => _sessions.TryAdd(session.SessionId, session);

    /// <summary>Forgets ended sessions, so only running ones stay in memory.</summary>
    public void ForgetEndedSessions()
    {
        foreach (var ended in _sessions.Values.Where(x => x.State != SessionState.Running).Select(x => x.SessionId).ToList())
            _sessions.Remove(ended);
    }

    /// <summary>USD per hour of every running session.</summary>
    public decimal BurnRatePerHour => _sessions.Values.Where(x => x.State == SessionState.Running).Sum(x => x.UsdPerHour);

    public IReadOnlyList<RunningSessionView> RunningSessions() =>
        _sessions.Values.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt)
            .Select(x => new RunningSessionView(x.SessionId, x.InstanceType, x.UsdPerHour, x.StartedAt, x.Charged, x.Workload)).ToList();

    /// <summary>What running sessions owe at <paramref name="now"/> beyond what they have been charged.</summary>
    public Micros UnbilledOwed(DateTimeOffset now)
    {
        var owed = Micros.Zero;
        foreach (var s in _sessions.Values)
        {
            if (s.State != SessionState.Running) continue;
            var due = Metering.Owed(s.UsdPerHour, s.StartedAt, now) - s.Charged;
            if (due.IsPositive) owed += due;
        }
        return owed;
    }

    /// <summary>
    /// What the runway is computed from: what is available once running sessions have paid what they owe.
    /// The start check, the runway shown and the low-balance warning all use this one figure.
    /// </summary>
    public Micros RunwayFunds(DateTimeOffset now)
    {
        var funds = Live(now) - ExplicitHeld(now) - UnbilledOwed(now);
        return funds.IsNegative ? Micros.Zero : funds;
    }

    /// <summary>
    /// Opens a session when the runway funds cover <c>MinimumRunway</c> at the burn rate of every running session
    /// plus this one. The same request again returns the session as first opened; another request under the same
    /// id is a conflict.
    /// </summary>
    public SessionOpResult OpenSession(OpenSessionRequest request, DateTimeOffset now)
    {
        if (_sessions.TryGetValue(request.SessionId, out var existing))
        {
            return existing.InstanceType == request.InstanceType && existing.Workload == request.Workload
                ? new SessionOpResult(WalletOpStatus.Applied, existing, Existing: true)
                : SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionConflict,
                    $"Session '{request.SessionId}' already exists with instance type {existing.InstanceType} ({existing.Workload}).");
        }
        var burn = BurnRatePerHour + request.UsdPerHour;
        var required = Metering.Owed(burn, now, now + request.MinimumRunway);
        var funds = RunwayFunds(now);
        if (funds < required)
        {
            _autoTopupTrigger = true;
            return SessionOpResult.Fail(WalletOpStatus.InsufficientCredits, ErrorCodes.InsufficientCredits,
                $"With this {request.InstanceType} the wallet's sessions burn {burn:0.######} USD/h: a {request.MinimumRunway.TotalMinutes:0.##}-minute runway needs {required.ToUsd():0.######} USD, and {funds.ToUsd():0.######} USD is available after what running sessions owe.");
        }
        if (StartPassesLimit(burn, request.MinimumRunway, now) is { } overLimit)
            return SessionOpResult.Fail(WalletOpStatus.InsufficientCredits, ErrorCodes.SpendLimitExceeded, overLimit);
        var session = new SessionView(request.SessionId, WalletId, request.InstanceType, request.Workload, request.UsdPerHour,
            request.StartedAt, SessionState.Running, null, Micros.Zero, null);
        Track(session);
        return new SessionOpResult(WalletOpStatus.Applied, session);
    }

    /// <summary>
    /// Charges a running session up to <c>request.At</c>: debits <c>owed(at) − charged</c> from the session's own
    /// record (nothing when that is not positive), taking what is left when it cannot all be paid and then
    /// terminating the session. <c>Final</c> stops it. The instant charged up to never goes back, so late,
    /// repeated or out-of-order calls, and silos whose clocks differ, change nothing: a stop is recorded at the
    /// latest instant already charged for when its own clock is behind, and the total is exactly the formula over
    /// the recorded start and stop.
    /// </summary>
    public SessionOpResult ChargeSession(SessionChargeRequest request, DateTimeOffset now)
    {
        if (!_sessions.TryGetValue(request.SessionId, out var session))
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionNotFound, $"Session '{request.SessionId}' is not open on this wallet.");
        if (session.State != SessionState.Running) return new SessionOpResult(WalletOpStatus.Applied, session);

        var through = request.At;
        if (session.ChargedThrough is { } charged && charged > through) through = charged;
        if (through < session.StartedAt) through = session.StartedAt;
        var owed = Metering.Owed(session.UsdPerHour, session.StartedAt, through);
        var due = owed - session.Charged;
        var debited = Micros.Zero;
        if (due.IsPositive)
        {
            // A limit caps what the session may take; what it cannot pay within the limit ends it (reason spend_limit).
            var headroom = Headroom(now);
            var payable = headroom is { } h && h < due ? h : due;
            if (payable.IsPositive)
            {
                var debit = new DebitRequest($"session:{session.SessionId}:{owed.Value}", LedgerEntryKind.SessionCharge, payable,
                    session.SessionId, new UsageTags(session.SessionId, session.InstanceType, null, session.Workload), AllowPartial: true);
                var outcome = DebitWithin(debit, now, SessionSpendable(now));
                if (outcome.Entry is { } entry) debited = -entry.Amount;
            }
            session = session with { Charged = session.Charged + debited, ChargedThrough = through };
            if (payable < due && debited == payable)
                session = Terminate(session, through, EndReasons.SpendLimit, now);
            // Out of credits: it could not all be paid, or nothing is left for the next interval.
            else if (debited < due || (!request.Final && !SessionSpendable(now).IsPositive))
                session = Terminate(session, through, EndReasons.InsufficientCredits, now);
        }
        if (request.Final && session.State == SessionState.Running)
            session = session with { State = SessionState.Stopped, StoppedAt = through, EndReason = EndReasons.Stopped };
        if (session != _sessions[request.SessionId]) Track(session); // a tick that owes nothing writes nothing
        return new SessionOpResult(WalletOpStatus.Applied, session, debited);
    }

    /// <summary>
    /// Raises one low-balance event when the runway (live balance ÷ burn rate) falls below the
    /// threshold, and re-arms once it is back above it (or nothing burns).
    /// </summary>
    public void CheckLowBalance(TimeSpan threshold, DateTimeOffset now)
    {
        var available = RunwayFunds(now);
        var runway = Metering.RunwaySeconds(available, BurnRatePerHour);
        bool low = runway is { } seconds && seconds < (long)threshold.TotalSeconds;
        if (low && !LowBalanceNotified)
        {
            LowBalanceNotified = true;
            Changes.LowBalanceFlagChanged = true;
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.LowBalance, WalletId, null, null, available, runway));
        }
        else if (!low && LowBalanceNotified)
        {
            LowBalanceNotified = false;
            Changes.LowBalanceFlagChanged = true;
        }
    }

    private SessionView Terminate(SessionView session, DateTimeOffset at, string reason, DateTimeOffset now)
    {
        if (reason == EndReasons.SpendLimit) _limitHit = true;
        Changes.Events.Add(new BillingEvent(0, now, EventKinds.SessionTerminated, WalletId, session.SessionId, reason, Balance, null));
        return session with { State = SessionState.Terminated, StoppedAt = at, EndReason = reason };
    }

    private void Track(SessionView session)
    {
        _sessions[session.SessionId] = session;
        Changes.Sessions[session.SessionId] = session;
    }

    public BookChanges TakeChanges()
    {
        var changes = Changes;
        Changes = new BookChanges();
        return changes;
    }

    /// <summary>Credits in lots not expired at <paramref name="now"/> (the total a reader sees).</summary>
    public Micros Live(DateTimeOffset now) => Allocator.Available(_lots.Values, now);

    /// <summary><c>available = total − held</c>: what a debit, a query or a new hold may take (never below zero).</summary>
    public Micros Available(DateTimeOffset now)
    {
        var available = Live(now) - Held(now);
        return available.IsNegative ? Micros.Zero : available;
    }

    public WalletBalance ToBalance(DateTimeOffset now, decimal burnRatePerHour, IReadOnlyList<RunningSessionView>? sessions)
    {
        var promotional = Micros.Zero;
        var purchased = Micros.Zero;
        ExpiryView? next = null;
        foreach (var lot in _lots.Values)
        {
            if (lot.IsExpiredAt(now)) continue;
            if (lot.Kind == LotKind.Promotional) promotional += lot.Remaining;
            else purchased += lot.Remaining;
            if (lot.ExpiresAt is { } at)
            {
                if (next is null || at < next.At) next = new ExpiryView(at, lot.Remaining);
                else if (at == next.At) next = next with { Amount = next.Amount + lot.Remaining };
            }
        }
        var total = promotional + purchased;
        return new WalletBalance(WalletId, total, promotional, purchased, next, burnRatePerHour,
            Metering.RunwaySeconds(RunwayFunds(now), burnRatePerHour), sessions ?? [], now, Held(now), Available(now));
    }

    /// <summary>The balance with this wallet's burn rate, runway and running sessions.</summary>
    public WalletBalance ToBalance(DateTimeOffset now) => ToBalance(now, BurnRatePerHour, RunningSessions());

    /// <summary>When the wallet must wake up by itself: the earliest expiry of a lot or an active hold, or credits_expiring notice.</summary>
    public DateTimeOffset? NextExpiry() =>
        _lots.Values.Where(l => l.ExpiresAt is not null).Select(l => l.ExpiresAt)
            .Concat(_holds.Values.Where(h => h.State == HoldState.Active).Select(h => (DateTimeOffset?)h.ExpiresAt))
            .Append(NextExpiryNotice()).Min();

    /// <summary>Writes an expiration entry for every lot whose expiry has come.</summary>
    public int ExpireDue(DateTimeOffset now)
    {
        ExpireHolds(now);
        var due = _lots.Values.Where(l => l.IsExpiredAt(now)).OrderBy(l => l.ExpiresAt).ThenBy(l => l.Id).ToList();
        foreach (var lot in due)
        {
            var movement = new LotMovement(lot.Id, -lot.Remaining);
            Append(now, LedgerEntryKind.Expiration, -lot.Remaining, [movement],
                $"lot {lot.Id} expired at {lot.ExpiresAt:O}", null, null);
        }
        return due.Count;
    }

    /// <summary>Adds credits as a new lot. Validation of the request is the caller's.</summary>
    public BookOutcome Credit(CreditRequest request, LotKind lotKind, DateTimeOffset now)
    {
        Invariant.Check(request.Amount.IsPositive, "a credit or debit moves a positive amount");
        long lotId = NextSeq;
        var lot = new CreditLot(lotId, lotKind, request.Amount, Micros.Zero, now, request.ExpiresAt, request.Reference);
        _lots[lotId] = lot;
        Changes.NewLots.Add(lot);
        var entry = Append(now, request.Kind, request.Amount, [new LotMovement(lotId, request.Amount)],
            request.Reference, request.IdempotencyKey, null);
        if (request.Kind == LedgerEntryKind.Topup)
        {
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.TopupSucceeded, WalletId, null, null, Balance, null,
                EventData.Of(("paymentId", request.Reference), ("amount", request.Amount), ("lotId", lotId))));
        }
        return new BookOutcome(WalletOpStatus.Applied, entry, lotId, Available(now));
    }

    /// <summary>
    /// Charges an inference query whose exact cost is <paramref name="costMicros"/> (unrounded). Rounding is
    /// cumulative per model: the book keeps the fraction of a micro-credit not yet debited and debits
    /// <c>round_down(carry + cost)</c>, so a query cheaper than one micro-credit is not free forever. A refused
    /// query changes nothing; a query that debits 0 writes no entry, only the new carry.
    /// </summary>
    public BookOutcome ChargeInference(DebitRequest template, decimal costMicros, DateTimeOffset now, long? holdNumber = null)
    {
        Invariant.Check(costMicros >= 0, "an inference cost is never negative");
        var model = template.Usage?.Model ?? throw new InvariantViolationException("An inference charge names its model.");
        Hold? hold = null;
        if (holdNumber is { } number && FindActiveHold(number, now, out hold) is { } refused) return refused;
        var total = _inferenceCarry.GetValueOrDefault(model) + costMicros;
        var whole = decimal.Floor(total);
        var outcome = new BookOutcome(WalletOpStatus.Applied, null, null, Available(now));
        if (hold is not null)
        {
            outcome = ChargeWithinHold(template with { Amount = new Micros((long)whole) }, hold, now);
            if (outcome.Status != WalletOpStatus.Applied) return outcome;
        }
        else if (whole > 0)
        {
            outcome = Debit(template with { Amount = new Micros((long)whole) }, now);
            if (outcome.Status != WalletOpStatus.Applied) return outcome;
        }
        var carry = total - whole;
        // An unchanged fraction (every query a whole number of micro-credits, the common case) is not written again.
        if (carry != _inferenceCarry.GetValueOrDefault(model))
        {
            _inferenceCarry[model] = carry;
            Changes.InferenceCarry[model] = carry;
        }
        return outcome;
    }

    /// <summary>
    /// Takes the amount in consumption order. Refused (nothing changes) when the live lots do not
    /// cover it, unless <c>AllowPartial</c>, which takes whatever is left (possibly nothing).
    /// </summary>
    public BookOutcome Debit(DebitRequest request, DateTimeOffset now)
    {
        Invariant.Check(request.Amount.IsPositive, "a credit or debit moves a positive amount");
        // Spending (a query, premium access) takes from available; a correction may also take what running sessions hold, never what holds keep.
        bool spending = SpendPeriods.IsSpending(request.Kind);
        var spendable = spending ? Available(now) : SessionSpendable(now);
        if (request.Amount > spendable && !request.AllowPartial)
        {
            _autoTopupTrigger |= spending;
            return BookOutcome.Insufficient(spendable);
        }
        if (spending && OverLimit(request.Amount, now) is { } overLimit)
        {
            _limitHit = true;
            return BookOutcome.OverLimit(spendable, overLimit);
        }
        return DebitWithin(request, now, spendable);
    }

    /// <summary>Takes the amount (or, with <c>AllowPartial</c>, as much of it as <paramref name="spendable"/> allows) in consumption order.</summary>
    private BookOutcome DebitWithin(DebitRequest request, DateTimeOffset now, Micros spendable)
    {
        var amount = request.Amount;
        if (amount > spendable)
        {
            if (!request.AllowPartial) return BookOutcome.Insufficient(spendable);
            amount = spendable.IsNegative ? Micros.Zero : spendable;
        }
        var allocation = Allocator.Allocate([.. _lots.Values], amount, now);
        if (allocation.Taken < amount && !request.AllowPartial)
            return BookOutcome.Insufficient(allocation.Taken);
        if (!allocation.Taken.IsPositive)
            return new BookOutcome(WalletOpStatus.Applied, null, null, Micros.Zero);
        var movements = allocation.Takes.Select(t => t with { Amount = -t.Amount }).ToList();
        var entry = Append(now, request.Kind, -allocation.Taken, movements, request.Reference, request.IdempotencyKey, request.Usage);
        if (SpendPeriods.IsSpending(request.Kind))
        {
            Spent = Spent.Add(allocation.Taken, now);
            _spentInBatch = true;
            _autoTopupTrigger = true;
        }
        return new BookOutcome(WalletOpStatus.Applied, entry, null, Available(now));
    }

    private LedgerEntryView Append(DateTimeOffset at, LedgerEntryKind kind, Micros amount, IReadOnlyList<LotMovement> movements,
        string reference, string? idempotencyKey, UsageTags? usage)
    {
        var sum = Micros.Zero;
        foreach (var m in movements)
        {
            var lot = _lots[m.LotId];
            var remaining = lot.Remaining + m.Amount;
            if (remaining.IsNegative || remaining > lot.Amount)
                throw new InvariantViolationException($"Lot {lot.Id} of wallet {WalletId} would hold {remaining} of {lot.Amount}.");
            if (remaining.IsPositive) _lots[lot.Id] = lot with { Remaining = remaining };
            else _lots.Remove(lot.Id);
            Changes.TouchedLots.Add(lot.Id);
            sum += m.Amount;
        }
        if (sum != amount) throw new InvariantViolationException($"Entry amount {amount} differs from its lot movements {sum}.");
        Balance += amount;
        if (Balance.IsNegative) throw new InvariantViolationException($"Wallet {WalletId} would go below zero.");
        var entry = new LedgerEntryView(NextSeq++, at, kind, amount, Balance, movements, reference, idempotencyKey, usage);
        Changes.Entries.Add(entry);
        return entry;
    }

    /// <summary>Σ open lots' remaining = balance. Cheap enough to check on every load.</summary>
    public void AssertConsistent()
    {
        var sum = Micros.Zero;
        foreach (var lot in _lots.Values) sum += lot.Remaining;
        if (sum != Balance)
            throw new InvariantViolationException($"Wallet {WalletId}: lots hold {sum} but the balance is {Balance}.");
    }

    /// <summary>The remaining of a lot the book still holds, or zero once it is spent or expired.</summary>
    public Micros RemainingOf(long lotId) => _lots.TryGetValue(lotId, out var lot) ? lot.Remaining : Micros.Zero;

    /// <summary>Which credits_expiring notices a lot the book holds has raised (null once it is spent or expired).</summary>
    public int? ExpiryNoticesOf(long lotId) => _lots.TryGetValue(lotId, out var lot) ? lot.ExpiryNotices : null;

    /// <summary>The credits_expiring notices, most specific first: level 2 one day before, level 1 seven days before.</summary>
    private static readonly (int Level, TimeSpan Before)[] ExpiryNotices = [(2, TimeSpan.FromDays(1)), (1, TimeSpan.FromDays(7))];

    /// <summary>
    /// Raises credits_expiring for promotional lots with something left whose expiry is 7 days or 1 day away, once each
    /// (a lot granted after a notice's moment never gets that one; when both are due, only the 1-day one is raised).
    /// </summary>
    public void NoticeExpiringLots(DateTimeOffset now)
    {
        foreach (var lot in _lots.Values.Where(l => l.Kind == LotKind.Promotional && l.Remaining.IsPositive && l.ExpiresAt > now)
                     .OrderBy(l => l.ExpiresAt).ThenBy(l => l.Id).ToList())
        {
            foreach (var (level, before) in ExpiryNotices)
            {
                if (lot.ExpiryNotices >= level) break;
                var due = lot.ExpiresAt!.Value - before;
                if (now < due || lot.GrantedAt >= due) continue;
                _lots[lot.Id] = lot with { ExpiryNotices = level };
                Changes.TouchedLots.Add(lot.Id);
                Changes.Events.Add(new BillingEvent(0, now, EventKinds.CreditsExpiring, WalletId, null, null, Balance, null,
                    EventData.Of(("lotId", lot.Id), ("amount", lot.Remaining), ("expiresAt", lot.ExpiresAt), ("daysBefore", (int)before.TotalDays))));
                break;
            }
        }
    }

    /// <summary>The next moment a credits_expiring notice falls due, if any.</summary>
    private DateTimeOffset? NextExpiryNotice() =>
        _lots.Values.Where(l => l.Kind == LotKind.Promotional && l.Remaining.IsPositive && l.ExpiresAt is not null)
            .SelectMany(l => ExpiryNotices.Where(n => l.ExpiryNotices < n.Level && l.GrantedAt < l.ExpiresAt!.Value - n.Before)
                .Select(n => (DateTimeOffset?)(l.ExpiresAt!.Value - n.Before)))
            .Min();

    /// <summary>balance_depleted when a batch takes the balance to zero, balance_recovered when one brings it back from zero.</summary>
    public void CheckDepletion(Micros balanceBefore, DateTimeOffset now)
    {
        if (balanceBefore.IsPositive && Balance == Micros.Zero)
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.BalanceDepleted, WalletId, null, null, Balance, null));
        else if (balanceBefore == Micros.Zero && Balance.IsPositive)
            Changes.Events.Add(new BillingEvent(0, now, EventKinds.BalanceRecovered, WalletId, null, null, Balance, null));
    }

    /// <summary>All lots touched by the pending changes, with their current remaining (zero when closed).</summary>
    public CreditLot? FindLot(long lotId) => _lots.GetValueOrDefault(lotId);
}
