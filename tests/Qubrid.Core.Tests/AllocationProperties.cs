using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

public class AllocationProperties
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Lots built from generated numbers: kind, amount, remaining, grant time and expiry vary freely.</summary>
    private static List<CreditLot> Lots((int Amount, int Spent, bool Promo, int GrantMinutes, int ExpiryMinutes)[] seeds) =>
        seeds.Select((s, i) =>
        {
            long amount = 1 + Math.Abs((long)s.Amount) % 50_000_000;
            long remaining = amount - Math.Abs((long)s.Spent) % (amount + 1);
            var granted = Epoch.AddMinutes(Math.Abs(s.GrantMinutes % 10_000));
            DateTimeOffset? expires = s.Promo ? granted.AddMinutes(1 + Math.Abs(s.ExpiryMinutes % 20_000)) : null;
            return new CreditLot(i + 1, s.Promo ? LotKind.Promotional : LotKind.Purchased, new Micros(amount), new Micros(remaining), granted, expires, "test");
        }).ToList();

    [Property(MaxTest = 500)]
    public bool Allocation_never_takes_more_than_available_nor_leaves_a_lot_negative(
        (int, int, bool, int, int)[] seeds, PositiveInt want, int nowMinutes)
    {
        var lots = Lots(seeds);
        var now = Epoch.AddMinutes(Math.Abs(nowMinutes % 30_000));
        var amount = new Micros((long)want.Get * 7);
        var allocation = Allocator.Allocate(lots, amount, now);
        var available = Allocator.Available(lots, now);
        var byId = lots.ToDictionary(l => l.Id);
        return allocation.Taken <= amount
            && allocation.Taken == Micros.Min(amount, available)
            && allocation.Takes.All(t => t.Amount.IsPositive && t.Amount <= byId[t.LotId].Remaining && !byId[t.LotId].IsExpiredAt(now))
            && allocation.Takes.Select(t => t.LotId).Distinct().Count() == allocation.Takes.Count
            && allocation.Takes.Aggregate(Micros.Zero, (s, t) => s + t.Amount) == allocation.Taken;
    }

    [Property(MaxTest = 500)]
    public bool Allocation_follows_the_consumption_order_exactly((int, int, bool, int, int)[] seeds, PositiveInt want, int nowMinutes)
    {
        var lots = Lots(seeds);
        var now = Epoch.AddMinutes(Math.Abs(nowMinutes % 30_000));
        var allocation = Allocator.Allocate(lots, new Micros(want.Get * 13L), now);
        var live = lots.Where(l => l.Remaining.IsPositive && !l.IsExpiredAt(now)).ToList();
        // Reference order written independently: promotional by (expiry, grant, id), then purchased by (grant, id).
        var expected = live.Where(l => l.Kind == LotKind.Promotional).OrderBy(l => (l.ExpiresAt!.Value, l.GrantedAt, l.Id))
            .Concat(live.Where(l => l.Kind == LotKind.Purchased).OrderBy(l => (l.GrantedAt, l.Id))).ToList();
        // Every lot before the last one touched is emptied; the takes are a prefix of the order.
        var takenIds = allocation.Takes.Select(t => t.LotId).ToList();
        if (!takenIds.SequenceEqual(expected.Take(takenIds.Count).Select(l => l.Id))) return false;
        for (int i = 0; i < allocation.Takes.Count - 1; i++)
        {
            if (allocation.Takes[i].Amount != expected[i].Remaining) return false;
        }
        return true;
    }

    [Fact]
    [Trait("Rule", "R-LOT-2")]
    public void Debit_spends_earliest_expiring_promotional_lot_first_then_purchased_oldest_first()
    {
        var lots = new List<CreditLot>
        {
            new(1, LotKind.Purchased, new Micros(100), new Micros(100), Epoch, null, "old purchase"),
            new(2, LotKind.Promotional, new Micros(10), new Micros(10), Epoch.AddDays(1), Epoch.AddDays(30), "late expiry"),
            new(3, LotKind.Promotional, new Micros(20), new Micros(20), Epoch.AddDays(2), Epoch.AddDays(10), "early expiry"),
            new(4, LotKind.Purchased, new Micros(100), new Micros(100), Epoch.AddDays(3), null, "new purchase"),
            new(5, LotKind.Promotional, new Micros(20), new Micros(20), Epoch.AddDays(1), Epoch.AddDays(10), "early expiry, older grant"),
        };
        var allocation = Allocator.Allocate(lots, new Micros(160), Epoch.AddDays(5));
        Assert.Equal(
            [new LotMovement(5, new Micros(20)), new LotMovement(3, new Micros(20)), new LotMovement(2, new Micros(10)),
             new LotMovement(1, new Micros(100)), new LotMovement(4, new Micros(10))],
            allocation.Takes);
    }

    [Fact]
    [Trait("Rule", "R-EXP-1")]
    public void An_expired_lot_is_never_counted_nor_taken()
    {
        var lots = new List<CreditLot>
        {
            new(1, LotKind.Promotional, new Micros(50), new Micros(50), Epoch, Epoch.AddHours(1), "bonus"),
            new(2, LotKind.Purchased, new Micros(30), new Micros(30), Epoch, null, "purchase"),
        };
        Assert.Equal(new Micros(80), Allocator.Available(lots, Epoch.AddHours(1).AddTicks(-1)));
        Assert.Equal(new Micros(30), Allocator.Available(lots, Epoch.AddHours(1)));
        var allocation = Allocator.Allocate(lots, new Micros(40), Epoch.AddHours(1));
        Assert.Equal([new LotMovement(2, new Micros(30))], allocation.Takes);
    }
}
