namespace Qubrid;

/// <summary>The clock every billing rule reads. A holder, so tests can shift time without touching Orleans' own clock.</summary>
public sealed class BillingClock(TimeProvider time)
{
    public static BillingClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time => time;

    /// <summary>Now, truncated to the microsecond: PostgreSQL's precision, so a time reads back exactly as it was used.</summary>
    public DateTimeOffset UtcNow => ToMicroseconds(time.GetUtcNow());

    // R-MONEY-4: billing times are truncated to the microsecond, PostgreSQL's precision.
    /// <summary>An instant truncated to the microsecond, in UTC: what PostgreSQL keeps of it.</summary>
    public static DateTimeOffset ToMicroseconds(DateTimeOffset at) => new(at.UtcTicks - at.UtcTicks % 10, TimeSpan.Zero);
}
