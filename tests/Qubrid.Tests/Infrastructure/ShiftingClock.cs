namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// Real time plus an offset the test moves forward. Reminders still fire on real time, while the
/// billing rules can be taken across an expiry instantly.
/// </summary>
public sealed class ShiftingClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}
