namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The API host's clock: real time plus an offset a test moves forward, so that a key's expiry or a rotation's grace
/// passes at once instead of after a sleep, while everything else the shared host does keeps running on real time.
/// </summary>
public sealed class OffsetClock : TimeProvider
{
    private long _offsetTicks;

    public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);
}
