using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>Holds and spending limits on the pure book, over random sequences (docs/rules.md: holds, spending limits).</summary>
public class SpendControlProperties
{
    private static readonly DateTimeOffset Start = new(2026, 1, 31, 22, 30, 0, TimeSpan.Zero); // an hour, a day and a month boundary ahead

    private static WalletBook Book(SpendLimits? defaults = null)
    {
        var book = WalletBook.New("w");
        book.Policy = WalletPolicy.None with { DefaultLimits = defaults ?? SpendLimits.None, SessionHoldInterval = TimeSpan.FromMinutes(1) };
        return book;
    }

    [Property(MaxTest = 200)]
    public void Holds_never_let_available_go_below_zero_and_captures_never_exceed_their_hold(int seed)
    {
        var random = new Random(seed);
        var now = Start;
        var book = Book();
        book.Credit(new CreditRequest("t0", LedgerEntryKind.Topup, new Micros(random.NextInt64(1, 50_000_000)), "p"), LotKind.Purchased, now);
        var holds = new List<long>();
        for (int step = 0; step < 80; step++)
        {
            now = now.AddMinutes(random.Next(0, 30));
            book.ExpireDue(now);
            var amount = new Micros(random.NextInt64(1, 10_000_000));
            switch (random.Next(6))
            {
                case 0:
                    var hold = book.CreateHold(new HoldRequest($"h{step}", amount, now.AddMinutes(random.Next(1, 120)), "r"), now);
                    if (hold.Status == WalletOpStatus.Applied) holds.Add(hold.LotId!.Value);
                    break;
                case 1 when holds.Count > 0:
                    var number = holds[random.Next(holds.Count)];
                    var held = book.FindHold(number)!;
                    var before = book.Balance;
                    var capture = book.SettleHold(new HoldSettleRequest($"c{step}", number, new Micros(random.NextInt64(0, held.Amount.Value * 2)), false), now);
                    if (capture.Status == WalletOpStatus.Applied && capture.Entry is { } e) Assert.True(-e.Amount <= held.Amount, "a capture never takes more than its hold");
                    if (capture.Status != WalletOpStatus.Applied) Assert.Equal(before, book.Balance);
                    break;
                case 2:
                    book.Debit(new DebitRequest($"d{step}", LedgerEntryKind.InferenceCharge, amount, "m"), now);
                    break;
                case 3:
                    book.Credit(new CreditRequest($"g{step}", LedgerEntryKind.Grant, amount, "promo", now.AddMinutes(random.Next(1, 90))), LotKind.Promotional, now);
                    break;
                case 4:
                    book.ChargeInference(new DebitRequest($"q{step}", LedgerEntryKind.InferenceCharge, Micros.Zero, "m", new UsageTags(Model: "m")),
                        random.NextInt64(0, 5_000_000), now, holds.Count > 0 ? holds[random.Next(holds.Count)] : null);
                    break;
                default:
                    book.Debit(new DebitRequest($"a{step}", LedgerEntryKind.Adjustment, amount, "fix"), now);
                    break;
            }
            Assert.True(book.Available(now) >= Micros.Zero);
            // What holds keep is always there: the lots live now cover every active hold.
            Assert.True(book.Live(now) >= book.ExplicitHeld(now), $"step {step}: live {book.Live(now)} < held {book.ExplicitHeld(now)}");
            book.AssertConsistent();
            book.TakeChanges();
        }
    }

    [Property(MaxTest = 200)]
    public void Spending_never_passes_a_limit_and_a_debit_landing_exactly_on_it_passes(int seed)
    {
        var random = new Random(seed);
        var limits = new SpendLimits(new Micros(random.NextInt64(1, 5_000_000)), new Micros(random.NextInt64(1, 20_000_000)), null);
        var book = Book(limits);
        var now = Start;
        book.Credit(new CreditRequest("t0", LedgerEntryKind.Topup, Micros.FromUsd(1_000m), "p"), LotKind.Purchased, now);
        var spentByHour = new Dictionary<DateTimeOffset, long>();
        var spentByDay = new Dictionary<DateTimeOffset, long>();
        for (int step = 0; step < 120; step++)
        {
            now = now.AddMinutes(random.Next(0, 25)); // crosses hour, day and month boundaries
            var hourLeft = limits.PerHour!.Value - book.SpentIn(SpendPeriod.Hour, now);
            var dayLeft = limits.PerDay!.Value - book.SpentIn(SpendPeriod.Day, now);
            var headroom = Micros.Min(hourLeft, dayLeft);
            // Half the time exactly the headroom (must pass), otherwise random (passes iff within it).
            var amount = random.Next(2) == 0 && headroom.IsPositive ? headroom : new Micros(random.NextInt64(1, 3_000_000));
            var outcome = book.Debit(new DebitRequest($"d{step}", LedgerEntryKind.PremiumAccess, amount, "m"), now);
            Assert.Equal(amount <= headroom, outcome.Status == WalletOpStatus.Applied);
            if (outcome.Status != WalletOpStatus.Applied) Assert.Equal(ErrorCodes.SpendLimitExceeded, outcome.ErrorCode);
            else
            {
                var hour = SpendPeriods.StartOf(SpendPeriod.Hour, now);
                var day = SpendPeriods.StartOf(SpendPeriod.Day, now);
                spentByHour[hour] = spentByHour.GetValueOrDefault(hour) + amount.Value;
                spentByDay[day] = spentByDay.GetValueOrDefault(day) + amount.Value;
            }
            Assert.All(spentByHour.Values, v => Assert.True(v <= limits.PerHour.Value.Value));
            Assert.All(spentByDay.Values, v => Assert.True(v <= limits.PerDay.Value.Value));
            Assert.Equal(new Micros(spentByHour.GetValueOrDefault(SpendPeriods.StartOf(SpendPeriod.Hour, now))), book.SpentIn(SpendPeriod.Hour, now));
            book.CheckSpendLimits(BatchEffects.All, now);
            book.TakeChanges();
        }
    }

    [Fact]
    [Trait("Rule", "R-LIMIT-1")]
    public void An_active_hold_counts_as_spent_so_its_capture_is_never_refused_by_the_limit()
    {
        var book = Book(new SpendLimits(Micros.FromUsd(10m)));
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100m), "p"), LotKind.Purchased, Start);
        var hold = book.CreateHold(new HoldRequest("h", Micros.FromUsd(8m), Start.AddMinutes(10), "job"), Start);
        Assert.Equal(WalletOpStatus.Applied, hold.Status);
        Assert.Equal(ErrorCodes.SpendLimitExceeded, book.Debit(new DebitRequest("d", LedgerEntryKind.PremiumAccess, Micros.FromUsd(3m), "m"), Start).ErrorCode);
        var capture = book.SettleHold(new HoldSettleRequest("c", hold.LotId!.Value, Micros.FromUsd(8m), false), Start.AddMinutes(1));
        Assert.Equal(WalletOpStatus.Applied, capture.Status);
        Assert.Equal(LedgerEntryKind.HoldCapture, capture.Entry!.Kind);
        Assert.Equal(Micros.FromUsd(8m), book.SpentIn(SpendPeriod.Hour, Start.AddMinutes(1)));
    }

    [Fact]
    [Trait("Rule", "R-LIMIT-2")]
    [Trait("Rule", "R-LIMIT-3")]
    public void Reaching_a_limit_ends_running_sessions_with_reason_spend_limit_and_raises_each_event_once()
    {
        var book = Book(new SpendLimits(Micros.FromUsd(1m)));
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100m), "p"), LotKind.Purchased, Start);
        book.OpenSession(new OpenSessionRequest("s", "A100", Workloads.Instance, 1.69m, Start.AddSeconds(1), TimeSpan.Zero), Start.AddSeconds(1));
        var first = book.Debit(new DebitRequest("q", LedgerEntryKind.PremiumAccess, Micros.FromUsd(0.9m), "m"), Start.AddSeconds(2));
        Assert.Equal(WalletOpStatus.Applied, first.Status);
        book.CheckSpendLimits(BatchEffects.All, Start.AddSeconds(2));
        Assert.Single(book.Changes.Events, e => e.Kind == EventKinds.SpendLimitWarning);
        var tick = book.ChargeSession(new SessionChargeRequest("s", Start.AddMinutes(10), false), Start.AddMinutes(10)); // owes 0.28, 0.1 left
        Assert.Equal(Micros.FromUsd(0.1m), tick.Debited);
        Assert.Equal(EndReasons.SpendLimit, tick.Session!.EndReason);
        book.CheckSpendLimits(BatchEffects.All, Start.AddMinutes(10));
        book.CheckSpendLimits(BatchEffects.All, Start.AddMinutes(11));
        Assert.Single(book.Changes.Events, e => e.Kind == EventKinds.SpendLimitReached);
        Assert.Single(book.Changes.Events, e => e.Kind == EventKinds.SpendLimitWarning);
        // The next hour is a new period: the limit applies afresh.
        Assert.Equal(WalletOpStatus.Applied, book.Debit(new DebitRequest("q2", LedgerEntryKind.PremiumAccess, Micros.FromUsd(1m), "m"), Start.AddMinutes(31)).Status);
    }

    [Fact]
    [Trait("Rule", "R-AUTO-1")]
    public void Auto_top_up_starts_once_below_the_threshold_within_the_cap_and_turns_off_after_three_failures()
    {
        var book = Book();
        book.Policy = book.Policy with { MinTopup = Micros.FromUsd(5m), MaxTopup = Micros.FromUsd(1_000m), AutoTopupRetryAfter = TimeSpan.FromMinutes(5) };
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "p"), LotKind.Purchased, Start);
        book.ConfigureAutoTopup(new AutoTopupSettings(true, Micros.FromUsd(5m), Micros.FromUsd(20m), "tok_visa", Micros.FromUsd(30m)));
        book.Debit(new DebitRequest("d1", LedgerEntryKind.InferenceCharge, Micros.FromUsd(4m), "m"), Start);
        book.MaybeStartAutoTopup(BatchEffects.All, Start);
        Assert.Null(book.Changes.AutoTopupStarted); // 6 USD left: not below 5
        book.Debit(new DebitRequest("d2", LedgerEntryKind.InferenceCharge, Micros.FromUsd(2m), "m"), Start);
        book.MaybeStartAutoTopup(BatchEffects.All, Start);
        var attempt = book.Changes.AutoTopupStarted!;
        Assert.Equal(Micros.FromUsd(16m), attempt.Amount); // target 20 − available 4
        book.TakeChanges();
        book.Debit(new DebitRequest("d3", LedgerEntryKind.InferenceCharge, Micros.FromUsd(1m), "m"), Start);
        book.MaybeStartAutoTopup(BatchEffects.All, Start);
        Assert.Null(book.Changes.AutoTopupStarted); // one in flight at a time
        book.SettleAutoTopup(attempt.Attempt, succeeded: true, null, Start);
        Assert.Equal(Micros.FromUsd(16m), book.AutoTopup.SpentIn(Start));
        for (int failure = 1; failure <= 3; failure++)
        {
            var at = Start.AddMinutes(10 * failure);
            book.TakeChanges();
            book.Debit(new DebitRequest($"f{failure}", LedgerEntryKind.InferenceCharge, new Micros(1), "m"), at);
            book.MaybeStartAutoTopup(BatchEffects.All, at);
            var next = book.Changes.AutoTopupStarted!;
            Assert.Equal(Micros.FromUsd(14m), next.Amount); // what the 30 USD cap leaves after 16
            book.SettleAutoTopup(next.Attempt, succeeded: false, "declined", at);
        }
        Assert.False(book.AutoTopup.Enabled);
        Assert.Single(book.Changes.Events, e => e.Kind == EventKinds.AutoTopupDisabled);
    }
}

