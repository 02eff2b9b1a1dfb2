using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

public class MoneyTests
{
    [Theory]
    [InlineData("0.000001", 1)]
    [InlineData("25", 25_000_000)]
    [InlineData("21.84", 21_840_000)]
    [Trait("Rule", "R-MONEY-1")]
    public void Usd_amounts_with_up_to_six_decimals_convert_exactly(string usd, long micros)
    {
        Assert.True(Micros.TryFromUsd(decimal.Parse(usd, System.Globalization.CultureInfo.InvariantCulture), out var m));
        Assert.Equal(micros, m.Value);
    }

    [Fact]
    [Trait("Rule", "R-MONEY-2")]
    public void More_than_six_decimals_is_refused_not_rounded() =>
        Assert.False(Micros.TryFromUsd(0.0000001m, out _));

    [Property]
    public bool Micros_round_trip_through_usd(long value)
    {
        var m = new Micros(value / 1000);
        return Micros.TryFromUsd(m.ToUsd(), out var back) && back == m;
    }

    [Fact]
    [Trait("Rule", "R-MONEY-3")]
    public void Owed_is_rounded_down_once_from_cumulative_time()
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        // 0.68 USD/h for 1 s = 188.888… micro-credits → 188
        Assert.Equal(new Micros(188), Metering.Owed(0.68m, start, start.AddSeconds(1)));
        Assert.Equal(new Micros(680_000), Metering.Owed(0.68m, start, start.AddHours(1)));
        Assert.Equal(Micros.Zero, Metering.Owed(0.68m, start, start.AddSeconds(-5)));
    }

    [Fact]
    [Trait("Rule", "R-MONEY-4")]
    public void The_billing_clock_reads_utc_truncated_to_the_microsecond()
    {
        var at = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.FromHours(2)).AddTicks(1_234_567); // 123.4567 ms past the second
        var clock = new BillingClock(new FixedTime(at));
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 10, 0, 0, TimeSpan.Zero).AddTicks(1_234_560), clock.UtcNow);
        Assert.Equal(TimeSpan.Zero, clock.UtcNow.Offset);
        Assert.Equal(clock.UtcNow, BillingClock.ToMicroseconds(clock.UtcNow));
    }

    private sealed class FixedTime(DateTimeOffset at) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => at;
    }
}
