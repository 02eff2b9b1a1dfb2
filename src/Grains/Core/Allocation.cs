namespace Qubrid.Core;

/// <summary>How a debit is spread over lots: the takes, in consumption order.</summary>
public sealed record Allocation(IReadOnlyList<LotMovement> Takes, Micros Taken);

/// <summary>The consumption-order rules (docs/rules.md#R-LOT-2, R-LOT-3, R-SCOPE-2). Pure: no clock, no I/O.</summary>
public static class Allocator
{
    // R-LOT-2: the consumption order.
    // R-SCOPE-2: matching scoped lots, then unscoped promotional, then purchased; earliest expiry, then oldest, in each.
    /// <summary>
    /// The lots a debit for <paramref name="usage"/> may take, in the order it takes them: first the scoped lots whose scope
    /// matches the usage (<see cref="CreditScopes.Matches"/>; a debit without usage matches none), then unscoped promotional
    /// lots, then purchased lots; within each group the earliest expiry first, then the oldest grant (purchased lots never
    /// expire: oldest first). Expired or empty lots are never offered. The lot id breaks any remaining tie.
    /// </summary>
    public static IEnumerable<CreditLot> ConsumptionOrder(IEnumerable<CreditLot> lots, DateTimeOffset now, UsageTags? usage = null) =>
        lots.Where(l => l.Remaining.IsPositive && !l.IsExpiredAt(now) && CreditScopes.Matches(l.Scope, usage))
            .OrderBy(Group)
            .ThenBy(l => l.ExpiresAt ?? DateTimeOffset.MaxValue)
            .ThenBy(l => l.GrantedAt)
            .ThenBy(l => l.Id);

    /// <summary>0: scoped (always promotional), 1: unscoped promotional, 2: purchased.</summary>
    public static int Group(CreditLot lot) => lot.Scope is not null ? 0 : lot.Kind == LotKind.Promotional ? 1 : 2;

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
    /// Takes up to <paramref name="amount"/> from the live lots <paramref name="usage"/> may spend, in consumption order. Never takes more
    /// than a lot holds; takes less than asked only when the lots run out (the caller decides whether
    /// a short allocation is acceptable).
    /// </summary>
    public static Allocation Allocate(IReadOnlyList<CreditLot> lots, Micros amount, DateTimeOffset now, UsageTags? usage = null)
    {
        if (amount.IsNegative) throw new ArgumentOutOfRangeException(nameof(amount), amount, "A debit is not negative.");
        var takes = new List<LotMovement>();
        var left = amount;
        foreach (var lot in ConsumptionOrder(lots, now, usage))
        {
            if (!left.IsPositive) break;
            var take = Micros.Min(left, lot.Remaining);
            takes.Add(new LotMovement(lot.Id, take));
            left -= take;
        }
        return new Allocation(takes, amount - left);
    }
}
