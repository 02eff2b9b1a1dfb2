using FsCheck;
using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Tests.Core;

public class MeteringProperties
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// Ticks at any times (late, repeated, out of order, even after the stop) followed by a stop: the wallet
    /// takes exactly round_down(rate × (stop − start)), to the micro-credit.
    /// </summary>
    [Property(MaxTest = 300)]
    public bool Total_charged_equals_the_formula_whatever_the_ticks(int[] tickMillis, PositiveInt runMillis, byte rateIndex)
    {
        decimal[] rates = [0.68m, 1.05m, 1.69m, 3.25m, 21.84m, 0.123457m];
        decimal rate = rates[rateIndex % rates.Length];
        var stop = Start.AddMilliseconds(runMillis.Get % 400_000_000);
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100_000m), "p"), LotKind.Purchased, Start);
        Assert.True(book.OpenSession(new OpenSessionRequest("s", "X", Workloads.Instance, rate, Start, TimeSpan.FromMinutes(10)), Start).Succeeded);

        foreach (var t in tickMillis)
        {
            var at = Start.AddMilliseconds(Math.Abs((long)t) % 500_000_000);
            if (at > stop) continue; // a tick computed after the stop cannot precede it: the grain serializes them
            book.ChargeSession(new SessionChargeRequest("s", Metering.Owed(rate, Start, at), false, null), at);
        }
        var stopped = book.ChargeSession(new SessionChargeRequest("s", Metering.Owed(rate, Start, stop), true, stop), stop);
        // Ticks that arrive after the stop change nothing.
        book.ChargeSession(new SessionChargeRequest("s", Metering.Owed(rate, Start, stop.AddHours(1)), false, null), stop.AddHours(1));

        var expected = Metering.Owed(rate, Start, stop);
        var ledger = book.TakeChanges().Entries.Where(e => e.Kind == LedgerEntryKind.SessionCharge).Aggregate(Micros.Zero, (s, e) => s - e.Amount);
        return stopped.Session!.Charged == expected && ledger == expected && book.FindSession("s")!.State == SessionState.Stopped;
    }

    [Property(MaxTest = 200)]
    public bool Owed_never_drifts_more_than_one_micro_from_rate_times_duration(PositiveInt seconds, byte rateIndex)
    {
        decimal[] rates = [0.68m, 1.05m, 1.69m, 3.25m, 21.84m];
        decimal rate = rates[rateIndex % rates.Length];
        var owed = Metering.Owed(rate, Start, Start.AddSeconds(seconds.Get));
        decimal exact = rate * Micros.PerUsd * seconds.Get / 3600m;
        return exact - owed.Value >= 0 && exact - owed.Value < 1;
    }

    [Fact]
    public void A_charge_beyond_the_balance_takes_what_is_left_and_terminates_the_session()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "H100", Workloads.Instance, 21.84m, Start, TimeSpan.Zero), Start);
        var result = book.ChargeSession(new SessionChargeRequest("s", Micros.FromUsd(2m), false, null), Start.AddMinutes(10));
        Assert.Equal(Micros.FromUsd(1m), result.Debited);
        Assert.Equal(SessionState.Terminated, result.Session!.State);
        Assert.Equal(EndReasons.InsufficientCredits, result.Session.EndReason);
        Assert.Equal(Micros.Zero, book.Balance);
        var ev = Assert.Single(book.Changes.Events);
        Assert.Equal(EventKinds.SessionTerminated, ev.Kind);
    }

    [Fact]
    public void A_session_whose_charge_empties_the_wallet_exactly_is_terminated_before_it_runs_unpaid()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "T4", Workloads.Instance, 0.68m, Start, TimeSpan.Zero), Start);
        var result = book.ChargeSession(new SessionChargeRequest("s", Micros.FromUsd(1m), false, null), Start.AddHours(2));
        Assert.Equal(Micros.FromUsd(1m), result.Debited);
        Assert.Equal(SessionState.Terminated, result.Session!.State);
    }

    [Fact]
    public void A_tick_that_owes_nothing_new_changes_nothing()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "T4", Workloads.Instance, 0.68m, Start, TimeSpan.Zero), Start);
        book.ChargeSession(new SessionChargeRequest("s", new Micros(500), false, null), Start.AddSeconds(3));
        book.TakeChanges();
        book.ChargeSession(new SessionChargeRequest("s", new Micros(400), false, null), Start.AddSeconds(2)); // late tick
        Assert.True(book.TakeChanges().IsEmpty);
    }
}
