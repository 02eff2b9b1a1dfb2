namespace Qubrid.Core;

/// <summary>Proration of hourly rates. Pure: exact decimal arithmetic, one rounding (down) per figure.</summary>
public static class Metering
{
    // R-MONEY-3: rounded down once, from the whole elapsed time.
    /// <summary>
    /// What a session owes after running from <paramref name="startedAt"/> to <paramref name="now"/>:
    /// round_down(rate × elapsed), from the cumulative elapsed time, so it never drifts.
    /// </summary>
    public static Micros Owed(decimal usdPerHour, DateTimeOffset startedAt, DateTimeOffset now)
    {
        if (now <= startedAt) return Micros.Zero;
        long ticks = (now - startedAt).Ticks; // 100 ns units
        // micros = usdPerHour × 1e6 × ticks / (3600 × 1e7); decimal keeps 28 digits, ample for years at any rate.
        decimal micros = usdPerHour * Micros.PerUsd * ticks / (3600m * TimeSpan.TicksPerSecond);
        return new Micros((long)decimal.Floor(micros));
    }

    /// <summary>Seconds the available balance lasts at the burn rate, rounded down; null when nothing burns.</summary>
    public static long? RunwaySeconds(Micros available, decimal burnRatePerHour)
    {
        if (burnRatePerHour <= 0) return null;
        return (long)decimal.Floor(available.ToUsd() * 3600m / burnRatePerHour);
    }
}
