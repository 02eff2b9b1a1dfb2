namespace Qubrid.Core;

/// <summary>How a debit is spread over lots: the takes, in consumption order.</summary>
public sealed record Allocation(IReadOnlyList<LotMovement> Takes, Micros Taken);

/// <summary>The consumption-order rules (docs/rules.md#R-LOT-2, R-LOT-3). Pure: no clock, no I/O.</summary>
public static class Allocator
{
    // R-LOT-2: the consumption order.
    /// <summary>
    /// Promotional lots first, earliest expiry first (ties: the oldest grant), then purchased lots,
    /// oldest first. Expired or empty lots are never offered. The lot id breaks any remaining tie.
    /// </summary>
    public static IEnumerable<CreditLot> ConsumptionOrder(IEnumerable<CreditLot> lots, DateTimeOffset now) =>
        lots.Where(l => l.Remaining.IsPositive && !l.IsExpiredAt(now))
            .OrderBy(l => l.Kind == LotKind.Promotional ? 0 : 1)
            .ThenBy(l => l.Kind == LotKind.Promotional ? l.ExpiresAt ?? DateTimeOffset.MaxValue : DateTimeOffset.MinValue)
            .ThenBy(l => l.GrantedAt)
            .ThenBy(l => l.Id);

    public static Micros Available(IEnumerable<CreditLot> lots, DateTimeOffset now)
    {
        var sum = Micros.Zero;
        foreach (var lot in lots)
        {
            if (!lot.IsExpiredAt(now)) sum += lot.Remaining;
        }
        return sum;
    }

    // R-LOT-3: one movement per lot touched; the takes sum to what was taken.
    /// <summary>
    /// Takes up to <paramref name="amount"/> from the live lots in consumption order. Never takes more
    /// than a lot holds; takes less than asked only when the lots run out (the caller decides whether
    /// a short allocation is acceptable).
    /// </summary>
    public static Allocation Allocate(IReadOnlyList<CreditLot> lots, Micros amount, DateTimeOffset now)
    {
        if (amount.IsNegative) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A debit is not negative.");
        var takes = new List<LotMovement>();
        var left = amount;
        foreach (var lot in ConsumptionOrder(lots, now))
        {
            if (!left.IsPositive) break;
            var take = Micros.Min(left, lot.Remaining);
            takes.Add(new LotMovement(lot.Id, take));
            left -= take;
        }
        return new Allocation(takes, amount - left);
    }
}
