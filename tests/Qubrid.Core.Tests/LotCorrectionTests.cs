using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>Voids of promotional lots and refunds to the card on the pure book (docs/rules.md: voids and refunds).</summary>
public class LotCorrectionTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero);

    private static WalletBook Book() => WalletBook.New("w");

    private static long Grant(WalletBook book, decimal usd, string key = "g") =>
        book.Credit(new CreditRequest(key, LedgerEntryKind.Grant, Micros.FromUsd(usd), "beta", Now.AddDays(30)), LotKind.Promotional, Now).LotId!.Value;

    private static long Topup(WalletBook book, decimal usd, string key = "t") =>
        book.Credit(new CreditRequest(key, LedgerEntryKind.Topup, Micros.FromUsd(usd), "pay_1"), LotKind.Purchased, Now).LotId!.Value;

    private static CardRefundRequest Refund(long lotId, decimal usd, string id = "re_1") =>
        new("k-" + id, "pay_1", Micros.FromUsd(usd), "customer asked", lotId, id);

    [Fact]
    [Trait("Rule", "R-VOID-1")]
    public void A_void_takes_the_promotional_remainder_but_leaves_what_a_hold_keeps()
    {
        var book = Book();
        var lot = Grant(book, 10m);
        Assert.Equal(WalletOpStatus.Applied, book.CreateHold(new HoldRequest("h", Micros.FromUsd(4m), Now.AddHours(1), "job"), Now).Status);

        var outcome = book.VoidLot(new VoidLotRequest("v", lot, "granted by mistake"), Now);

        Assert.Equal(WalletOpStatus.Applied, outcome.Status);
        Assert.Equal(LedgerEntryKind.GrantVoid, outcome.Entry!.Kind);
        Assert.Equal(Micros.FromUsd(-6m), outcome.Entry.Amount);
        Assert.Equal([new LotMovement(lot, Micros.FromUsd(-6m))], outcome.Entry.Lots);
        Assert.Equal(Micros.FromUsd(4m), book.RemainingOf(lot));
        Assert.Equal(Micros.Zero, book.Available(Now));
        Assert.Equal(Micros.FromUsd(4m), book.Held(Now));
    }

    [Fact]
    [Trait("Rule", "R-VOID-1")]
    public void A_purchased_lot_is_not_voidable_and_an_empty_lot_voids_nothing()
    {
        var book = Book();
        var purchased = Topup(book, 5m);
        var refused = book.VoidLot(new VoidLotRequest("v1", purchased, "no"), Now);
        Assert.Equal(ErrorCodes.LotNotVoidable, refused.ErrorCode);
        Assert.Null(refused.Entry);

        var promo = Grant(book, 2m);
        Assert.NotNull(book.VoidLot(new VoidLotRequest("v2", promo, "mistake"), Now).Entry);
        var again = book.VoidLot(new VoidLotRequest("v3", promo, "mistake"), Now);
        Assert.Equal(WalletOpStatus.Applied, again.Status);
        Assert.Null(again.Entry);
        Assert.Equal(Micros.FromUsd(5m), book.Balance);
    }

    [Fact]
    [Trait("Rule", "R-REFUND-1")]
    public void Refunds_reserve_at_most_what_the_lot_has_left_and_partial_refunds_add_up()
    {
        var book = Book();
        var lot = Topup(book, 10m);
        Assert.Equal(WalletOpStatus.Applied, book.ReserveCardRefund(Refund(lot, 6m, "re_a"), Now).Status);
        var tooMuch = book.ReserveCardRefund(Refund(lot, 4.000001m, "re_b"), Now);
        Assert.Equal(ErrorCodes.RefundExceedsRemaining, tooMuch.ErrorCode);
        Assert.Equal(WalletOpStatus.Applied, book.ReserveCardRefund(Refund(lot, 4m, "re_c"), Now).Status);
        Assert.Equal(Micros.Zero, book.Available(Now));
        Assert.Equal(2, book.TakeChanges().CardRefunds.Count);
    }

    [Fact]
    [Trait("Rule", "R-REFUND-1")]
    public void A_reserved_refund_is_kept_from_debits_even_when_the_lot_is_the_oldest()
    {
        var book = Book();
        var old = Topup(book, 10m, "t1");
        Topup(book, 10m, "t2");
        book.ReserveCardRefund(Refund(old, 8m), Now);

        var debit = book.Debit(new DebitRequest("d", LedgerEntryKind.InferenceCharge, Micros.FromUsd(12m), "m", new UsageTags(Model: "m")), Now);

        Assert.Equal(WalletOpStatus.Applied, debit.Status);
        Assert.Equal(Micros.FromUsd(8m), book.RemainingOf(old)); // the debit took 2 from the oldest lot, then 10 from the newer one
        Assert.Equal(WalletOpStatus.InsufficientCredits,
            book.Debit(new DebitRequest("d2", LedgerEntryKind.InferenceCharge, new Micros(1), "m", new UsageTags(Model: "m")), Now).Status);
    }

    [Fact]
    [Trait("Rule", "R-REFUND-2")]
    public void A_settled_refund_writes_one_card_refund_entry_from_its_lot_and_a_failed_one_writes_nothing()
    {
        var book = Book();
        var lot = Topup(book, 10m);
        book.ReserveCardRefund(Refund(lot, 3m, "re_ok"), Now);
        book.ReserveCardRefund(Refund(lot, 2m, "re_no"), Now);
        book.TakeChanges();

        var ok = book.SettleCardRefund("re_ok", true, null, Now);
        var repeat = book.SettleCardRefund("re_ok", true, null, Now);
        var failed = book.SettleCardRefund("re_no", false, "refused", Now);

        var changes = book.TakeChanges();
        var entry = Assert.Single(changes.Entries);
        Assert.Equal(LedgerEntryKind.CardRefund, entry.Kind);
        Assert.Equal([new LotMovement(lot, Micros.FromUsd(-3m))], entry.Lots);
        Assert.Equal(entry.Seq, ok.Result.Wallet!.Seq);
        Assert.True(repeat.Result.Wallet!.Replayed);
        Assert.Null(failed.Result.Wallet!.Seq);
        Assert.Equal([EventKinds.RefundSucceeded, EventKinds.RefundFailed], changes.Events.Select(e => e.Kind));
        Assert.Equal([CardRefundStatus.Succeeded, CardRefundStatus.Failed], changes.CardRefunds.Select(c => c.Status));
        Assert.Equal(Micros.FromUsd(7m), book.Balance);
        Assert.Equal(Micros.FromUsd(7m), book.Available(Now));
    }

    [Property(MaxTest = 200)]
    [Trait("Rule", "R-VOID-1")]
    [Trait("Rule", "R-REFUND-1")]
    public void Voids_and_refunds_never_take_a_lot_below_zero_or_below_what_is_held(int seed)
    {
        var random = new Random(seed);
        var book = Book();
        var now = Now;
        var lots = new List<long>();
        var pending = new List<string>();
        for (int step = 0; step < 60; step++)
        {
            var amount = new Micros(random.NextInt64(1, 20_000_000));
            var coveredBefore = book.Live(now) >= book.Held(now);
            var availableBefore = book.Available(now);
            switch (random.Next(7))
            {
                case 0:
                    lots.Add(book.Credit(new CreditRequest($"g{step}", LedgerEntryKind.Grant, amount, "beta", now.AddDays(30)), LotKind.Promotional, now).LotId!.Value);
                    break;
                case 1:
                    lots.Add(book.Credit(new CreditRequest($"t{step}", LedgerEntryKind.Topup, amount, $"pay_{step}"), LotKind.Purchased, now).LotId!.Value);
                    break;
                case 2:
                    book.CreateHold(new HoldRequest($"h{step}", amount, now.AddHours(1), "job"), now);
                    break;
                case 3:
                    book.Debit(new DebitRequest($"d{step}", LedgerEntryKind.InferenceCharge, amount, "m", new UsageTags(Model: "m")), now);
                    break;
                case 4 when lots.Count > 0:
                    var voided = book.VoidLot(new VoidLotRequest($"v{step}", lots[random.Next(lots.Count)], "r"), now);
                    if (voided.Entry is { } v) Assert.True(-v.Amount <= availableBefore, "a void took more than was available");
                    break;
                case 5 when lots.Count > 0:
                    var id = $"re_{step}";
                    if (book.ReserveCardRefund(Refund(lots[random.Next(lots.Count)], 0m, id) with { Amount = amount }, now).Status == WalletOpStatus.Applied)
                    {
                        Assert.True(amount <= availableBefore, "a refund reserved more than was available");
                        pending.Add(id);
                    }
                    break;
                case 6 when pending.Count > 0:
                    var settle = pending[random.Next(pending.Count)];
                    pending.Remove(settle);
                    book.SettleCardRefund(settle, random.Next(3) > 0, "refused", now);
                    break;
            }
            if (coveredBefore) Assert.True(book.Live(now) >= book.Held(now), $"step {step}: what is held is no longer covered");
            Assert.All(book.OpenLots, l => Assert.True(l.Remaining.IsPositive && l.Remaining <= l.Amount));
            book.AssertConsistent();
            now = now.AddMinutes(random.Next(0, 5));
        }
    }
}
