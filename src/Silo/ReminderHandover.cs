using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Orleans.Services;

namespace Qubrid;

/// <summary>
/// Charges the sessions whose charge reminder changes silo at once, instead of leaving it to the next tick of the new owner.
///
/// Orleans' reminder service (10.4.2, LocalReminderService) hands a reminder over without catching up: the silo that loses a
/// part of the ring stops its timers when it learns of the change (a graceful stop stops every timer first, then writes
/// ShuttingDown), the silo that gains it reads that part of the table and ticks at the reminder's next StartAt + n × Period
/// after the read (CalculateNextTickTime). A tick due during the handover is dropped, so a session whose tick falls there
/// waits two intervals plus the tick's own delivery: with a 5 s interval 10–13 s during a rolling upgrade.
///
/// This service follows the same ring as the reminder service (it is a grain service too) and, whenever the ring moves a part
/// from or to this silo, delivers one tick now to every charge reminder in that part: on this silo's start (the part it took
/// from the others), on a change of the ring (another silo joined or left: what this silo gained or lost), and when this silo
/// stops gracefully, once it is marked ShuttingDown (everything it owned). A charge is cumulative (owed(now)), so an extra tick
/// changes no total; a session then waits at most one interval plus the handover. The ticks go through
/// <see cref="IRemindable.ReceiveReminder"/>, the entry point the reminder service uses, so they reach a session grain of any
/// release. Real silo processes only (the test clusters deliver ticks themselves).
/// </summary>
public interface IReminderHandoverService : IGrainService
{
    /// <summary>How many handover ticks this silo has delivered (a diagnostic).</summary>
    Task<long> Delivered();
}

public sealed partial class ReminderHandoverService(
    GrainId grainId,
    Orleans.Runtime.Silo silo,
    ILoggerFactory loggerFactory,
    ReminderHandoverCatchUp catchUp) : GrainService(grainId, silo, loggerFactory), IReminderHandoverService
{
    public Task<long> Delivered() => Task.FromResult(catchUp.Delivered);

    public override async Task Start()
    {
        await base.Start();
        catchUp.Owned = RingRange;
        // The part of the ring this silo now owns was the others' until they saw it join: their ticks due since then are gone.
        catchUp.Deliver([RingRange], inRange: RingRange.InRange, "taken over at start");
    }

    public override async Task OnRangeChange(IRingRange oldRange, IRingRange newRange, bool increased)
    {
        await base.OnRangeChange(oldRange, newRange, increased);
        if (StoppedCancellationTokenSource.IsCancellationRequested) return;
        catchUp.Owned = newRange;
        // Gained: the previous owner stopped its timers already; lost: the new owner ticks only from its own read on. (The
        // virtual-bucket ring reports every change as an increase, so the part is not told apart here.)
        catchUp.Deliver([oldRange, newRange], inRange: id => newRange.InRange(id) != oldRange.InRange(id), "moved to or from this silo by a ring change");
    }
}

/// <summary>The work of <see cref="ReminderHandoverService"/>, and the stop hook that runs once this silo is ShuttingDown.</summary>
public sealed partial class ReminderHandoverCatchUp(
    IReminderTable table,
    IGrainFactory grains,
    TimeProvider time,
    ILogger<ReminderHandoverCatchUp> logger) : ILifecycleParticipant<ISiloLifecycle>
{
    private const int Parallelism = 16;
    private static readonly TimeSpan TickTimeout = TimeSpan.FromSeconds(10);
    private long _delivered;

    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>The part of the ring this silo's grain services own, as last notified.</summary>
    public IRingRange? Owned { get; set; }

    public void Participate(ISiloLifecycle lifecycle) =>
        // Stopping runs from the last stage down: Active (grain services and their reminder timers stop), BecomeActive
        // (the membership table says ShuttingDown, the others take the ring over), then this stage, beside the deactivations.
        lifecycle.Subscribe(nameof(ReminderHandoverCatchUp), ServiceLifecycleStage.BecomeActive - 1, _ => Task.CompletedTask, OnStoppingAsync);

    private async Task OnStoppingAsync(CancellationToken cancellationToken)
    {
        if (Owned is not { } owned || cancellationToken.IsCancellationRequested) return;
        await DeliverAsync([owned], owned.InRange, "handed over at stop", cancellationToken);
    }

    /// <summary>The reminders that charge sessions: a session's own (SessionReminders mode) or a metering shard's (Shards mode).</summary>
    public static bool IsMeteringReminder(string name) => SessionGrain.IsChargeReminder(name) || name == MeteringShardGrain.ChargeReminder;

    /// <summary>Delivers the ticks in the background (a range change must not wait for grain calls).</summary>
    public void Deliver(IReadOnlyList<IRingRange> ranges, Func<GrainId, bool> inRange, string why) =>
        _ = Task.Run(() => DeliverAsync(ranges, inRange, why, CancellationToken.None));

    /// <summary>
    /// Reads only the parts of the reminder table under <paramref name="ranges"/> (this silo's share of the ring, before and
    /// after a change: about 1/N of the table with N silos), the way the reminder service reads its own share, and ticks the
    /// charge reminders among them that <paramref name="inRange"/> selects, at most <see cref="Parallelism"/> at a time.
    /// </summary>
    private async Task DeliverAsync(IReadOnlyList<IRingRange> ranges, Func<GrainId, bool> inRange, string why, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        try
        {
            var moved = new Dictionary<(GrainId, string), ReminderEntry>();
            foreach (var part in ranges.SelectMany(RangeFactory.GetSubRanges))
            {
                var rows = await table.ReadRows(part.Begin, part.End).WaitAsync(TickTimeout, cancellationToken);
                foreach (var r in rows.Reminders)
                {
                    if (IsMeteringReminder(r.ReminderName) && inRange(r.GrainId)) moved.TryAdd((r.GrainId, r.ReminderName), r);
                }
            }
            if (moved.Count == 0) return;
            int failed = 0;
            await Parallel.ForEachAsync(moved.Values, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (r, ct) =>
            {
                try
                {
                    var status = new TickStatus(r.StartAt, r.Period, time.GetUtcNow().UtcDateTime);
                    await grains.GetGrain(r.GrainId).AsReference<IRemindable>().ReceiveReminder(r.ReminderName, status).WaitAsync(TickTimeout, ct);
                    Interlocked.Increment(ref _delivered);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Best effort: the reminder's own next tick charges whatever this did not.
                    Interlocked.Increment(ref failed);
                }
            });
            LogDelivered(logger, moved.Count - failed, moved.Count, why, time.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogFailed(logger, e, why);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reminder handover: charged {Delivered} of {Moved} sessions whose charge reminder was {Why}, in {Milliseconds:0} ms")]
    private static partial void LogDelivered(ILogger logger, int delivered, int moved, string why, double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reminder handover ({Why}) failed; the reminders' own next ticks charge the sessions")]
    private static partial void LogFailed(ILogger logger, Exception exception, string why);
}

public static class ReminderHandoverExtensions
{
    /// <summary>Adds <see cref="ReminderHandoverService"/> and its stop hook to a silo.</summary>
    public static ISiloBuilder UseReminderHandover(this ISiloBuilder silo)
    {
        silo.Services.AddReminderHandover();
        return silo;
    }

    /// <summary>Adds <see cref="ReminderHandoverService"/> and its stop hook to a silo's services.</summary>
    public static IServiceCollection AddReminderHandover(this IServiceCollection services)
    {
        services.AddSingleton<ReminderHandoverCatchUp>();
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<ReminderHandoverCatchUp>());
        services.AddGrainService<ReminderHandoverService>();
        return services;
    }
}
