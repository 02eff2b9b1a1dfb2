using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>Randomized simulation of a wallet's life: the ledger invariants hold after every step.</summary>
public class WalletBookSimulation
{
    [Property(MaxTest = 200)]
    public void Sum_of_entries_equals_balance_and_each_lot_equals_its_amount_minus_what_entries_took(int seed)
    {
        var random = new Random(seed);
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var book = WalletBook.New("sim");
        var entries = new List<LedgerEntryView>();
        var lots = new Dictionary<long, CreditLot>();
        for (int step = 0; step < 60; step++)
        {
            now = now.AddMinutes(random.Next(0, 180));
            book.ExpireDue(now);
            var amount = new Micros(random.NextInt64(1, 20_000_000));
            string key = $"k{step}";
            switch (random.Next(5))
            {
                case 0:
                    book.Credit(new CreditRequest(key, LedgerEntryKind.Grant, amount, "promo", now.AddMinutes(random.Next(1, 2_000))), LotKind.Promotional, now);
                    break;
                case 1:
                    book.Credit(new CreditRequest(key, LedgerEntryKind.Topup, amount, "card"), LotKind.Purchased, now);
                    break;
                case 2:
                    book.Debit(new DebitRequest(key, LedgerEntryKind.SessionCharge, amount, "s", AllowPartial: true), now);
                    break;
                default:
                    var before = book.Balance;
                    var outcome = book.Debit(new DebitRequest(key, LedgerEntryKind.InferenceCharge, amount, "m"), now);
                    if (outcome.Status == WalletOpStatus.InsufficientCredits) Assert.Equal(before, book.Balance);
                    break;
            }
            var changes = book.TakeChanges();
            entries.AddRange(changes.Entries);
            foreach (var lot in changes.NewLots) lots[lot.Id] = lot;

            Assert.Equal(book.Balance, entries.Aggregate(Micros.Zero, (s, e) => s + e.Amount));
            Assert.False(book.Balance.IsNegative);
            foreach (var lot in lots.Values)
            {
                var moved = entries.SelectMany(e => e.Lots).Where(m => m.LotId == lot.Id).Aggregate(Micros.Zero, (s, m) => s + m.Amount);
                Assert.Equal(book.RemainingOf(lot.Id), moved);
            }
            foreach (var e in entries) Assert.Equal(e.Amount, e.Lots.Aggregate(Micros.Zero, (s, m) => s + m.Amount));
        }
    }
}
