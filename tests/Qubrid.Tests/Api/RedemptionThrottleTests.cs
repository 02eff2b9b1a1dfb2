using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Qubrid.Api.Extensions;

namespace Qubrid.Tests.Api;

/// <summary>The failed-redemption throttle on its own: atomic slots, given-back attempts, a bounded table.</summary>
public class RedemptionThrottleTests
{
    private static RedemptionThrottle Throttle(FakeTimeProvider clock, int perKey = 3, int maxTracked = 100_000) =>
        new(Options.Create(new RedemptionOptions { MaxFailuresPerKey = perKey, MaxFailuresPerUser = 100, MaxFailuresPerAddress = 1_000, MaxTracked = maxTracked }), clock);

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public async Task A_thousand_parallel_attempts_of_one_key_take_exactly_the_limits_slots()
    {
        var throttle = Throttle(new FakeTimeProvider(DateTimeOffset.UnixEpoch));
        using var start = new Barrier(4);
        var taken = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait();
            return Enumerable.Range(0, 250).Count(i => throttle.TryBegin("u", "k", "10.0.0.1", out var _) is not null);
        })));
        Assert.Equal(3, taken.Sum());
    }

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public void A_given_back_attempt_frees_its_slot_and_a_kept_one_counts_until_the_window_passes()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var throttle = Throttle(clock, perKey: 1);
        throttle.TryBegin("u", "k", "a", out _)!.GiveBack();
        Assert.NotNull(throttle.TryBegin("u", "k", "a", out _)); // kept: a failure
        Assert.Null(throttle.TryBegin("u", "k", "a", out var wait));
        Assert.Equal(TimeSpan.FromMinutes(15), wait);
        clock.Advance(TimeSpan.FromMinutes(15));
        Assert.NotNull(throttle.TryBegin("u", "k", "a", out _));
    }

    [Fact]
    public void The_table_never_grows_past_max_tracked_when_every_entry_is_inside_the_window()
    {
        var throttle = Throttle(new FakeTimeProvider(DateTimeOffset.UnixEpoch), maxTracked: 10);
        for (int i = 0; i < 100; i++) throttle.TryBegin(null, null, $"10.0.0.{i}", out _);
        Assert.True(throttle.Tracked <= 10, $"{throttle.Tracked} entries tracked");
    }
}
