using FsCheck;
using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

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
            book.ChargeSession(new SessionChargeRequest("s", at, false), at);
        }
        var stopped = book.ChargeSession(new SessionChargeRequest("s", stop, true), stop);
        // Ticks that arrive after the stop change nothing.
        book.ChargeSession(new SessionChargeRequest("s", stop.AddHours(1), false), stop.AddHours(1));

        var expected = Metering.Owed(rate, Start, stop);
        var ledger = book.TakeChanges().Entries.Where(e => e.Kind == LedgerEntryKind.SessionCharge).Aggregate(Micros.Zero, (s, e) => s - e.Amount);
        return stopped.Session!.Charged == expected && ledger == expected && book.FindSession("s")!.State == SessionState.Stopped;
    }

    /// <summary>
    /// A metering shard's charge of every running session (one wallet batch) is exactly what each session's own tick at the
    /// same instant would have done: same charged, same state and end reason, same balance; ended sessions are left alone.
    /// </summary>
    [Property(MaxTest = 200)]
    public bool Charging_all_running_sessions_equals_charging_each_at_the_same_instant(byte sessionCount, PositiveInt fundsMicros, int[] tickSeconds)
    {
        decimal[] rates = [0.68m, 1.05m, 1.69m, 3.25m, 21.84m];
        var all = WalletBook.New("w");
        all.Credit(new CreditRequest("t", LedgerEntryKind.Topup, new Micros(1 + fundsMicros.Get % 50_000_000), "p"), LotKind.Purchased, Start);
        int n = 1 + sessionCount % 6;
        for (int i = 0; i < n; i++)
            all.OpenSession(new OpenSessionRequest($"s{i}", "X", Workloads.Instance, rates[i % rates.Length], Start.AddSeconds(i), TimeSpan.Zero), Start.AddSeconds(i));
        all.TakeChanges();
        var each = all.Clone();
        var at = Start;
        foreach (var t in tickSeconds.Take(8))
        {
            at = at.AddSeconds(Math.Abs((long)t) % 7_200);
            var charged = all.ChargeRunningSessions(at, at);
            int running = 0;
            foreach (var s in each.Sessions.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt).Select(x => x.SessionId).ToList())
            {
                running++;
                each.ChargeSession(new SessionChargeRequest(s, at, false), at);
            }
            if (charged.Running != running) return false;
        }
        return all.Balance == each.Balance
            && all.Sessions.OrderBy(x => x.SessionId).SequenceEqual(each.Sessions.OrderBy(x => x.SessionId));
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
    [Trait("Rule", "R-SESS-7")]
    public void A_charge_beyond_the_balance_takes_what_is_left_and_terminates_the_session()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "H100", Workloads.Instance, 21.84m, Start, TimeSpan.Zero), Start);
        var result = book.ChargeSession(new SessionChargeRequest("s", Start.AddMinutes(10), false), Start.AddMinutes(10));
        Assert.Equal(Micros.FromUsd(1m), result.Debited);
        Assert.Equal(SessionState.Terminated, result.Session!.State);
        Assert.Equal(EndReasons.InsufficientCredits, result.Session.EndReason);
        Assert.Equal(Micros.Zero, book.Balance);
        var ev = Assert.Single(book.Changes.Events, e => e.Kind != EventKinds.TopupSucceeded);
        Assert.Equal(EventKinds.SessionTerminated, ev.Kind);
    }

    [Fact]
    public void A_session_whose_charge_empties_the_wallet_exactly_is_terminated_before_it_runs_unpaid()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "T4", Workloads.Instance, 0.72m, Start, TimeSpan.Zero), Start);
        var result = book.ChargeSession(new SessionChargeRequest("s", Start.AddSeconds(5000), false), Start.AddSeconds(5000)); // 0.72 USD/h × 5000 s = 1 USD
        Assert.Equal(Micros.FromUsd(1m), result.Debited);
        Assert.Equal(SessionState.Terminated, result.Session!.State);
    }

    [Fact]
    [Trait("Rule", "R-IDEM-5")]
    public void A_tick_that_owes_nothing_new_changes_nothing()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "T4", Workloads.Instance, 0.68m, Start, TimeSpan.Zero), Start);
        book.ChargeSession(new SessionChargeRequest("s", Start.AddSeconds(3), false), Start.AddSeconds(3));
        book.TakeChanges();
        book.ChargeSession(new SessionChargeRequest("s", Start.AddSeconds(2), false), Start.AddSeconds(2)); // late tick
        Assert.True(book.TakeChanges().IsEmpty);
    }

    /// <summary>
    /// Ticks and the stop computed on silos whose clocks differ by up to 2 s, in any order: the stop is recorded no
    /// earlier than the latest instant already charged for, and the total is exactly the formula over the recorded
    /// start and stop, never more.
    /// </summary>
    [Property(MaxTest = 300)]
    public bool Skewed_clocks_never_charge_more_than_the_formula_over_the_recorded_times(int[] tickMillis, PositiveInt runMillis, int[] skewMillis)
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100_000m), "p"), LotKind.Purchased, Start);
        Assert.True(book.OpenSession(new OpenSessionRequest("s", "X", Workloads.Instance, 21.84m, Start, TimeSpan.Zero), Start).Succeeded);
        TimeSpan Skew(int i) => skewMillis.Length == 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(skewMillis[i % skewMillis.Length] % 2_000);
        var stop = Start.AddMilliseconds(runMillis.Get % 40_000_000);
        int n = 0;
        foreach (var t in tickMillis)
        {
            var at = Start.AddMilliseconds(Math.Abs((long)t) % 40_000_000);
            if (at > stop) continue;
            at += Skew(n++);
            book.ChargeSession(new SessionChargeRequest("s", at, false), at);
        }
        var stopAt = stop + Skew(n);
        var stopped = book.ChargeSession(new SessionChargeRequest("s", stopAt, true), stopAt).Session!;
        var ledger = book.TakeChanges().Entries.Where(e => e.Kind == LedgerEntryKind.SessionCharge).Aggregate(Micros.Zero, (s, e) => s - e.Amount);
        return stopped.StoppedAt >= stopAt
            && stopped.Charged == Metering.Owed(21.84m, stopped.StartedAt, stopped.StoppedAt!.Value)
            && ledger == stopped.Charged;
    }

    [Fact]
    [Trait("Rule", "R-SESS-5")]
    public void A_stop_on_a_clock_behind_the_last_tick_is_recorded_at_the_last_tick()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "H100", Workloads.Instance, 21.84m, Start, TimeSpan.Zero), Start);
        book.ChargeSession(new SessionChargeRequest("s", Start.AddSeconds(62), false), Start.AddSeconds(62)); // a silo 2 s ahead
        var stopped = book.ChargeSession(new SessionChargeRequest("s", Start.AddSeconds(60), true), Start.AddSeconds(60)).Session!;
        Assert.Equal(Start.AddSeconds(62), stopped.StoppedAt);
        Assert.Equal(Metering.Owed(21.84m, Start, Start.AddSeconds(62)), stopped.Charged);
    }

    [Fact]
    [Trait("Rule", "R-SESS-2")]
    public void Two_h100_sessions_cannot_start_on_five_usd_and_what_running_sessions_owe_counts_against_a_start()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(5m), "p"), LotKind.Purchased, Start);
        var tenMinutes = TimeSpan.FromMinutes(10);
        Assert.True(book.OpenSession(new OpenSessionRequest("a", "H100", Workloads.Instance, 21.84m, Start, tenMinutes), Start).Succeeded);
        var second = book.OpenSession(new OpenSessionRequest("b", "H100", Workloads.Instance, 21.84m, Start, tenMinutes), Start);
        Assert.Equal(WalletOpStatus.InsufficientCredits, second.Status);

        // 3 minutes later the first H100 owes 1.092 USD not yet charged, leaving 3.908 USD: enough for a T4 beside it
        // (22.52 USD/h for 10 minutes: 3.753 USD), not then for an A100 as well (24.21 USD/h: 4.035 USD).
        var later = Start.AddMinutes(3);
        Assert.True(book.OpenSession(new OpenSessionRequest("c", "T4", Workloads.Instance, 0.68m, later, tenMinutes), later).Succeeded);
        Assert.Equal(WalletOpStatus.InsufficientCredits,
            book.OpenSession(new OpenSessionRequest("d", "A100", Workloads.Instance, 1.69m, later, tenMinutes), later).Status);
        Assert.Equal(Micros.FromUsd(5m) - Metering.Owed(21.84m, Start, later), book.RunwayFunds(later));
    }

    /// <summary>Any sequence of queries on one model: the wallet debits exactly round_down(Σ exact costs), never less.</summary>
    [Property(MaxTest = 200)]
    public bool Inference_is_rounded_cumulatively_per_model(PositiveInt[] tokens)
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1_000m), "p"), LotKind.Purchased, Start);
        decimal exact = 0;
        foreach (var t in tokens)
        {
            var cost = (t.Get % 1_000) * 0.05m; // llama-3.1-8b input: 0.05 micro-credits per token
            exact += cost;
            var template = new DebitRequest($"q{exact}", LedgerEntryKind.InferenceCharge, Micros.Zero, "q", new UsageTags(Model: "llama"));
            Assert.Equal(WalletOpStatus.Applied, book.ChargeInference(template, cost, Start).Status);
        }
        return Micros.FromUsd(1_000m) - book.Balance == new Micros((long)decimal.Floor(exact));
    }
}
