namespace Qubrid;

/// <summary>The clock every billing rule reads. A holder, so tests can shift time without touching Orleans' own clock.</summary>
public sealed class BillingClock(TimeProvider time)
{
    public static BillingClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time => time;

    /// <summary>Now, truncated to the microsecond: PostgreSQL's precision, so a time reads back exactly as it was used.</summary>
    public DateTimeOffset UtcNow
    {
        get
        {
            var now = time.GetUtcNow();
            return new DateTimeOffset(now.UtcTicks - now.UtcTicks % 10, TimeSpan.Zero);
        }
    }
}
