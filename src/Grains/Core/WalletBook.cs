namespace Qubrid.Core;

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

    public WalletBook Clone() => new WalletBook(WalletId, Balance, NextSeq, Version, _lots.Values, _sessions.Values, LowBalanceNotified, _inferenceCarry,
        new WalletControls(_holds.Values.ToList(), NextHoldNumber, Limits, Spent, AutoTopup)) { Policy = Policy }.CopyRefundsFrom(this);

    /// <summary>Per model, the fraction of a micro-credit charged for inference but not yet debited (in [0, 1)).</summary>
    public IReadOnlyDictionary<string, decimal> InferenceCarry => _inferenceCarry;

    public BookChanges TakeChanges()
    {
        var changes = Changes;
        Changes = new BookChanges();
        return changes;
    }

    /// <summary>Credits in lots not expired at <paramref name="now"/> (the total a reader sees).</summary>
    public Micros Live(DateTimeOffset now) => Allocator.Available(_lots.Values, now);

    /// <summary>
    /// <c>available = total − scoped − held</c>: what any debit, query or new hold may take (never below zero). Scoped lots pay
    /// only matching usage (<see cref="AvailableFor"/>); a running session's hold is kept first from the scoped lots it matches.
    /// </summary>
    public Micros Available(DateTimeOffset now)
    {
        var available = GenericLive(now) - ExplicitHeld(now) - SessionHeldFromUnscoped(now);
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
        var runway = burnRatePerHour == BurnRatePerHour ? Runway(now).Seconds : Metering.RunwaySeconds(RunwayFunds(now), burnRatePerHour);
        return new WalletBalance(WalletId, total, promotional, purchased, next, burnRatePerHour,
            runway, sessions ?? [], now, Held(now), Available(now), ScopedLive(now));
    }

    /// <summary>The balance with this wallet's burn rate, runway and running sessions.</summary>
    public WalletBalance ToBalance(DateTimeOffset now) => ToBalance(now, BurnRatePerHour, RunningSessions());

    /// <summary>Adds credits as a new lot. Validation of the request is the caller's.</summary>
    public BookOutcome Credit(CreditRequest request, LotKind lotKind, DateTimeOffset now)
    {
        Invariant.Check(request.Amount.IsPositive, "a credit or debit moves a positive amount");
        long lotId = NextSeq;
        Invariant.Check(request.Scope is null || lotKind == LotKind.Promotional, "only promotional lots are scoped");
        var lot = new CreditLot(lotId, lotKind, request.Amount, Micros.Zero, now, request.ExpiresAt, request.Reference, Scope: request.Scope);
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

    // R-INF-2: cumulative rounding per model (the carry).
    // R-INF-3: a refused query writes nothing and keeps the carry.
    // R-INF-4: a query that debits 0 writes no entry, only the carry.
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
        var spendable = spending ? AvailableFor(request.Usage, now) : SpendableFor(request.Usage, now);
        if (request.Amount > spendable && !request.AllowPartial)
            return BookOutcome.Insufficient(spendable) with { Effects = spending ? BatchEffects.AutoTopupCheck : BatchEffects.None };
        if (spending && OverLimit(request.Amount, now) is { } overLimit)
            return BookOutcome.OverLimit(spendable, overLimit);
        return DebitWithin(request, now, spendable);
    }

    // R-LOT-4: all or nothing unless AllowPartial (session charges only, R-SESS-7).
    /// <summary>Takes the amount (or, with <c>AllowPartial</c>, as much of it as <paramref name="spendable"/> allows) in consumption order.</summary>
    private BookOutcome DebitWithin(DebitRequest request, DateTimeOffset now, Micros spendable)
    {
        var amount = request.Amount;
        if (amount > spendable)
        {
            if (!request.AllowPartial) return BookOutcome.Insufficient(spendable);
            amount = spendable.IsNegative ? Micros.Zero : spendable;
        }
        var allocation = Allocator.Allocate(SpendableLots(), amount, now, request.Usage);
        if (allocation.Taken < amount && !request.AllowPartial)
            return BookOutcome.Insufficient(allocation.Taken);
        if (!allocation.Taken.IsPositive)
            return new BookOutcome(WalletOpStatus.Applied, null, null, Micros.Zero);
        var movements = allocation.Takes.Select(t => t with { Amount = -t.Amount }).ToList();
        var entry = Append(now, request.Kind, -allocation.Taken, movements, request.Reference, request.IdempotencyKey, request.Usage);
        if (!SpendPeriods.IsSpending(request.Kind)) return new BookOutcome(WalletOpStatus.Applied, entry, null, Available(now));
        Spent = Spent.Add(allocation.Taken, now);
        return new BookOutcome(WalletOpStatus.Applied, entry, null, Available(now), Effects: BatchEffects.Spending);
    }

    // R-LEDGER-2: the invariants, asserted as the book changes (AssertConsistent on load).
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
        // R-LOT-5: never below zero (and CHECK (balance >= 0) in the table).
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
