using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>
/// The spend-control deciders as functions of their inputs: (state, request, context) → (decision, next state), no book.
/// </summary>
public class SpendControlDeciderTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 10, 12, 30, 0, TimeSpan.Zero);

    private static readonly WalletPolicy Policy = WalletPolicy.None with
    {
        MinTopup = Micros.FromUsd(5m), MaxTopup = Micros.FromUsd(1_000m), AutoTopupRetryAfter = TimeSpan.FromMinutes(5),
        DefaultLimits = new SpendLimits(Micros.FromUsd(10m)),
    };

    private static readonly AutoTopupState On = AutoTopupState.Configure(AutoTopupState.Off,
        new AutoTopupSettings(true, Micros.FromUsd(5m), Micros.FromUsd(20m), "tok_visa", Micros.FromUsd(30m)));

    [Fact]
    public void An_auto_top_up_starts_only_after_a_triggering_batch_below_the_threshold_and_one_at_a_time()
    {
        Assert.Equal((null, On), AutoTopupState.DecideStart(On, BatchEffects.None, Micros.FromUsd(1m), Policy, Now));
        Assert.Equal((null, On), AutoTopupState.DecideStart(On, BatchEffects.Spending, Micros.FromUsd(5m), Policy, Now));

        var (started, inFlight) = AutoTopupState.DecideStart(On, BatchEffects.AutoTopupCheck, Micros.FromUsd(4m), Policy, Now);
        Assert.Equal(new AutoTopupAttempt(1, Micros.FromUsd(16m), "tok_visa"), started);
        Assert.Equal(On with { InFlight = 1, NextAttempt = 2, InFlightAmount = Micros.FromUsd(16m) }, inFlight);
        Assert.Equal((null, inFlight), AutoTopupState.DecideStart(inFlight, BatchEffects.Spending, Micros.FromUsd(1m), Policy, Now));
    }

    [Fact]
    public void An_attempts_report_settles_only_that_attempt_and_the_third_failure_in_a_row_turns_it_off()
    {
        var (_, inFlight) = AutoTopupState.DecideStart(On, BatchEffects.Spending, Micros.FromUsd(4m), Policy, Now);
        Assert.Null(AutoTopupState.DecideSettlement(inFlight, attempt: 7, succeeded: true, Policy, Now));

        var (paid, disabled) = AutoTopupState.DecideSettlement(inFlight, 1, succeeded: true, Policy, Now)!.Value;
        Assert.False(disabled);
        Assert.Equal(Micros.FromUsd(16m), paid.SpentIn(Now));
        Assert.Null(paid.InFlight);

        var state = paid;
        for (int failure = 1; failure <= 3; failure++)
        {
            var at = Now.AddMinutes(10 * failure);
            var (attempt, next) = AutoTopupState.DecideStart(state, BatchEffects.Spending, Micros.FromUsd(1m), Policy, at);
            Assert.Equal(Micros.FromUsd(14m), attempt!.Amount); // what the 30 USD cap leaves after 16
            (state, disabled) = AutoTopupState.DecideSettlement(next, attempt.Attempt, succeeded: false, Policy, at)!.Value;
            Assert.Equal(failure == 3, disabled);
            Assert.Equal(at.AddMinutes(5), state.RetryAt);
        }
        Assert.False(state.Enabled);
        Assert.Equal("payment_failed", state.DisabledReason);
    }

    [Fact]
    public void Limit_events_are_decided_once_per_period_from_what_each_period_spent()
    {
        Micros Spent(SpendPeriod period) => period == SpendPeriod.Hour ? Micros.FromUsd(10m) : Micros.FromUsd(8m);
        var (raised, atLimit, marked) = LimitSettings.DecideEvents(LimitSettings.None, Spent, Policy, Now);
        Assert.True(atLimit);
        Assert.Equal(
            [new LimitCrossing(EventKinds.SpendLimitWarning, SpendPeriod.Hour, Micros.FromUsd(10m), Micros.FromUsd(10m)),
             new LimitCrossing(EventKinds.SpendLimitReached, SpendPeriod.Hour, Micros.FromUsd(10m), Micros.FromUsd(10m))],
            raised);
        Assert.Equal(SpendPeriods.StartOf(SpendPeriod.Hour, Now), marked.Reached.Hour);

        var (again, stillAtLimit, unchanged) = LimitSettings.DecideEvents(marked, Spent, Policy, Now.AddMinutes(10));
        Assert.Empty(again);
        Assert.True(stillAtLimit);
        Assert.Equal(marked, unchanged);

        var (nextHour, _, _) = LimitSettings.DecideEvents(marked, Spent, Policy, Now.AddHours(1));
        Assert.Equal(2, nextHour.Count); // a new hour: raised afresh
    }
}
