using System.Diagnostics;

namespace Qubrid.Core;

/// <summary>What one batch changed, for the store to write in one transaction.</summary>
public sealed class BookChanges
{
    public List<CreditLot> NewLots { get; } = [];
    public HashSet<long> TouchedLots { get; } = [];
    public List<LedgerEntryView> Entries { get; } = [];
    public bool IsEmpty => Entries.Count == 0;
}

/// <summary>The outcome of applying one operation to a book.</summary>
public readonly record struct BookOutcome(WalletOpStatus Status, LedgerEntryView? Entry, long? LotId, Micros Available)
{
    public static BookOutcome Insufficient(Micros available) => new(WalletOpStatus.InsufficientCredits, null, null, available);
}

/// <summary>
/// A wallet's lots and balance, and the rules that change them. Pure: the caller passes the time.
/// Every change appends a ledger entry whose lot movements sum to its amount, so that
/// Σ entries = balance and each lot's remaining = its movements hold by construction (asserted here).
/// </summary>
public sealed class WalletBook
{
    private readonly Dictionary<long, CreditLot> _lots;

    public WalletBook(string walletId, Micros balance, long nextSeq, long version, IEnumerable<CreditLot> openLots)
    {
        WalletId = walletId;
        Balance = balance;
        NextSeq = nextSeq;
        Version = version;
        _lots = openLots.ToDictionary(l => l.Id);
        Changes = new BookChanges();
        AssertConsistent();
    }

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

    public WalletBook Clone() => new(WalletId, Balance, NextSeq, Version, _lots.Values);

    public BookChanges TakeChanges()
    {
        var changes = Changes;
        Changes = new BookChanges();
        return changes;
    }

    public Micros Available(DateTimeOffset now) => Allocator.Available(_lots.Values, now);

    public WalletBalance ToBalance(DateTimeOffset now, decimal burnRatePerHour = 0, IReadOnlyList<RunningSessionView>? sessions = null)
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
            Metering.RunwaySeconds(total, burnRatePerHour), sessions ?? [], now);
    }

    /// <summary>The earliest expiry among lots that still hold credits, if any.</summary>
    public DateTimeOffset? NextExpiry() =>
        _lots.Values.Where(l => l.ExpiresAt is not null).Select(l => l.ExpiresAt).Min();

    /// <summary>Writes an expiration entry for every lot whose expiry has come.</summary>
    public int ExpireDue(DateTimeOffset now)
    {
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
        Debug.Assert(request.Amount.IsPositive);
        long lotId = NextSeq;
        var lot = new CreditLot(lotId, lotKind, request.Amount, Micros.Zero, now, request.ExpiresAt, request.Reference);
        _lots[lotId] = lot;
        Changes.NewLots.Add(lot);
        var entry = Append(now, request.Kind, request.Amount, [new LotMovement(lotId, request.Amount)],
            request.Reference, request.IdempotencyKey, null);
        return new BookOutcome(WalletOpStatus.Applied, entry, lotId, Available(now));
    }

    /// <summary>
    /// Takes the amount in consumption order. Refused (nothing changes) when the live lots do not
    /// cover it, unless <c>AllowPartial</c>, which takes whatever is left (possibly nothing).
    /// </summary>
    public BookOutcome Debit(DebitRequest request, DateTimeOffset now)
    {
        Debug.Assert(request.Amount.IsPositive);
        var allocation = Allocator.Allocate([.. _lots.Values], request.Amount, now);
        if (allocation.Taken < request.Amount && !request.AllowPartial)
            return BookOutcome.Insufficient(allocation.Taken);
        if (!allocation.Taken.IsPositive)
            return new BookOutcome(WalletOpStatus.Applied, null, null, Micros.Zero);
        var movements = allocation.Takes.Select(t => t with { Amount = -t.Amount }).ToList();
        var entry = Append(now, request.Kind, -allocation.Taken, movements, request.Reference, request.IdempotencyKey, request.Usage);
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
                throw new InvalidOperationException($"Lot {lot.Id} of wallet {WalletId} would hold {remaining} of {lot.Amount}.");
            if (remaining.IsPositive) _lots[lot.Id] = lot with { Remaining = remaining };
            else _lots.Remove(lot.Id);
            Changes.TouchedLots.Add(lot.Id);
            sum += m.Amount;
        }
        if (sum != amount) throw new InvalidOperationException($"Entry amount {amount} differs from its lot movements {sum}.");
        Balance += amount;
        if (Balance.IsNegative) throw new InvalidOperationException($"Wallet {WalletId} would go below zero.");
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
            throw new InvalidOperationException($"Wallet {WalletId}: lots hold {sum} but the balance is {Balance}.");
    }

    /// <summary>The remaining of a lot the book still holds, or zero once it is spent or expired.</summary>
    public Micros RemainingOf(long lotId) => _lots.TryGetValue(lotId, out var lot) ? lot.Remaining : Micros.Zero;

    /// <summary>All lots touched by the pending changes, with their current remaining (zero when closed).</summary>
    public CreditLot? FindLot(long lotId) => _lots.GetValueOrDefault(lotId);
}
