using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Qubrid.Tests.Simulation;

/// <summary>
/// Everything the simulation controls, shared by every silo of its cluster: the fake clock with a skew the
/// simulation sets per step (the silo that handles a step may run a second or two ahead or behind), the
/// reminder table, and the faults to inject. One simulation at a time owns a world.
/// </summary>
public sealed class SimWorld
{
    public static readonly DateTimeOffset Epoch = new(2026, 1, 5, 8, 0, 0, TimeSpan.Zero);

    public FakeTimeProvider Time { get; } = new(Epoch);
    public SimReminders Reminders { get; }

    public SimWorld() => Reminders = new SimReminders(this);

    /// <summary>How far the clock of the silo handling the current step is from true time.</summary>
    public TimeSpan Skew { get; set; }

    /// <summary>True time (the fake clock without skew).</summary>
    public DateTimeOffset Now => Time.GetUtcNow();

    // ---- faults (all off while the simulation checks its invariants) ----
    public bool Suspended { get; set; }

    /// <summary>The database refuses every call until this true time.</summary>
    public DateTimeOffset DatabaseDownUntil { get; set; } = DateTimeOffset.MinValue;

    /// <summary>The next N grain-state writes fail.</summary>
    public int FailStateWrites { get; set; }

    /// <summary>The next ledger commit is written but its answer is lost (the caller sees an error).</summary>
    public bool LoseNextCommitAnswer { get; set; }

    public bool DatabaseDown => !Suspended && Now < DatabaseDownUntil;

    public void ThrowIfDown(string what)
    {
        if (DatabaseDown) throw new NpgsqlException($"simulated outage: {what}");
    }

    public bool TakeStateWriteFault()
    {
        if (Suspended || FailStateWrites <= 0) return false;
        FailStateWrites--;
        return true;
    }

    public bool TakeLostCommitAnswer()
    {
        if (Suspended || !LoseNextCommitAnswer) return false;
        LoseNextCommitAnswer = false;
        return true;
    }

    public void ClearFaults()
    {
        DatabaseDownUntil = DateTimeOffset.MinValue;
        FailStateWrites = 0;
        LoseNextCommitAnswer = false;
        Skew = TimeSpan.Zero;
    }
}

/// <summary>The billing clock of every simulated silo: the fake clock plus the step's skew.</summary>
public sealed class SkewedClock(SimWorld world) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => world.Time.GetUtcNow() + world.Skew;
}
