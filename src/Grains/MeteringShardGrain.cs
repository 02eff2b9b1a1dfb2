using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Reminders;
using Qubrid.Storage;

namespace Qubrid;

/// <summary>
/// A bucket of wallets in <see cref="MeteringMode.Shards"/> (key 0..Shards−1). One reminder at the charge interval; each tick
/// reads from PostgreSQL the wallets with running sessions in the bucket (the ledger's session table is the truth, so a
/// start whose caller gave up after the wallet opened it is metered too) and has each wallet charge all its running
/// sessions in one batch, a bounded number of wallets at a time. Charges are cumulative (owed − charged), so a late,
/// missed, repeated or concurrent pass changes nothing in the totals.
/// <para>
/// The reminder is registered by the first session start that names the shard, before the wallet opens the session (due at
/// the shard's own phase of the interval, so the shards' passes spread over it), and
/// is never removed while the shard is part of the configuration: a start can therefore never find the shard without a
/// reminder once its session is open. A shard beyond the configured count (the count was lowered) removes its reminder;
/// its wallets belong to other shards now.
/// </para>
/// </summary>
public sealed partial class MeteringShardGrain(
    IMeteringStore store,
    BillingClock clock,
    [FromKeyedServices(ReminderTimeProviderNames.Reminders)] TimeProvider reminderClock,
    IOptions<MeteringOptions> meteringOptions,
    ILogger<MeteringShardGrain> logger) : Grain, IMeteringShardGrain, IRemindable
{
    public const string ChargeReminder = "meter";
    private const int MaxFailuresLogged = 3;

    private Task? _ensuring;
    private bool _reminderKnown;
    private Task<ShardPass>? _pass;

    private int Shard => (int)this.GetPrimaryKeyLong();

    public Task Ensure()
    {
        if (_reminderKnown) return Task.CompletedTask;
        // Concurrent starts share one registration; a failed one is tried again by the next caller.
        _ensuring ??= EnsureOnceAsync();
        return _ensuring;
    }

    private async Task EnsureOnceAsync()
    {
        try
        {
            if (Shard < 0 || Shard >= meteringOptions.Value.Shards)
                throw new InvalidOperationException($"Metering shard {Shard} is not one of the {meteringOptions.Value.Shards} configured.");
            if (await this.GetReminder(ChargeReminder) is null)
            {
                var interval = meteringOptions.Value.ChargeInterval;
                var due = DueAtPhase(interval, Shard, meteringOptions.Value.Shards, reminderClock.GetUtcNow());
                await this.RegisterOrUpdateReminder(ChargeReminder, due, interval);
                LogRegistered(logger, Shard, interval);
            }
            _reminderKnown = true;
        }
        finally
        {
            _ensuring = null;
        }
    }

    /// <summary>
    /// When shard <paramref name="shard"/> of <paramref name="shards"/> first ticks: at its own phase of the interval
    /// (shard/shards × interval past each whole interval since the Unix epoch, on the clock the reminder service schedules by),
    /// so that the shards' passes spread over the interval instead of all landing at once. Within (0, interval].
    /// </summary>
    public static TimeSpan DueAtPhase(TimeSpan interval, int shard, int shards, DateTimeOffset now)
    {
        long phase = interval.Ticks / shards * shard;
        long into = (now - DateTimeOffset.UnixEpoch).Ticks % interval.Ticks;
        long due = ((phase - into) % interval.Ticks + interval.Ticks) % interval.Ticks;
        return TimeSpan.FromTicks(due == 0 ? interval.Ticks : due);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ChargeReminder) return;
        _reminderKnown = true;
        var metering = meteringOptions.Value;
        if (Shard >= metering.Shards)
        {
            if (await this.GetReminder(ChargeReminder) is { } stale) await this.UnregisterReminder(stale);
            _reminderKnown = false;
            LogRetired(logger, Shard, metering.Shards);
            return;
        }
        // A tick is a grain call under the response timeout: it waits a bounded time for its pass, which goes on after that.
        // A pass still running from the previous tick is this tick's pass too (the charges are cumulative).
        if (_pass is null || _pass.IsCompleted) _pass = PassAsync(new DateTimeOffset(status.CurrentTickTime, TimeSpan.Zero));
        var pass = _pass;
        await Task.WhenAny(pass, Task.Delay(metering.ShardTickWait));
        if (pass.IsCompleted) await pass; // a failed pass fails the tick (logged by the reminder service); the next tick retries
    }

    public async Task<ShardPass> ChargeNow()
    {
        if (_pass is { IsCompleted: false } running) await running.ContinueWith(_ => { }, TaskScheduler.Current);
        _pass = PassAsync(due: null);
        return await _pass;
    }

    /// <summary>One pass: every wallet of the bucket charges all its running sessions at its current time.</summary>
    private async Task<ShardPass> PassAsync(DateTimeOffset? due)
    {
        var metering = meteringOptions.Value;
        var wallets = await store.ListMeteredWalletsAsync(Shard, metering.Shards);
        var at = clock.UtcNow;
        int next = 0, sessions = 0, charged = 0, failed = 0;

        // Workers share one cursor; they all run on this activation's scheduler, so no locks are needed.
        async Task WorkerAsync()
        {
            while (next < wallets.Count)
            {
                var walletId = wallets[next++];
                try
                {
                    var result = await GrainFactory.GetGrain<IWalletGrain>(walletId).ChargeRunningSessions(clock.UtcNow);
                    sessions += result.Running;
                    charged += result.Charged;
                    if (result.Charged > 0) BillingMetrics.SessionCharges.Add(result.Charged);
                    if (due is { } tickTime)
                    {
                        // Each session's lag: from when the tick was due (on the reminder service's clock) to its charge committed.
                        long lagMicros = Math.Max(0, (long)(reminderClock.GetUtcNow() - tickTime).TotalMicroseconds);
                        for (int i = 0; i < result.Running; i++) BillingMetrics.TickLagMicros.Record(lagMicros);
                    }
                }
                catch (Exception e)
                {
                    // The next pass charges what this one could not (cumulative); a wallet failing is logged, not fatal to the pass.
                    if (++failed <= MaxFailuresLogged) LogWalletFailed(logger, e, Shard, walletId);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, Math.Min(metering.ShardParallelism, wallets.Count)).Select(_ => WorkerAsync()));
        if (failed > 0) LogPassFailures(logger, Shard, failed, wallets.Count);
        LogPass(logger, Shard, wallets.Count, sessions, charged);
        return new ShardPass(wallets.Count, sessions, charged, failed, at);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Metering shard {Shard}: reminder registered every {Interval}")]
    private static partial void LogRegistered(ILogger logger, int shard, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Information, Message = "Metering shard {Shard} is beyond the {Shards} configured: its reminder is removed")]
    private static partial void LogRetired(ILogger logger, int shard, int shards);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Metering shard {Shard}: charging wallet {WalletId} failed; the next pass charges it")]
    private static partial void LogWalletFailed(ILogger logger, Exception exception, int shard, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Metering shard {Shard}: {Failed} of {Wallets} wallets failed in this pass")]
    private static partial void LogPassFailures(ILogger logger, int shard, int failed, int wallets);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Metering shard {Shard}: {Wallets} wallets, {Sessions} running sessions, {Charged} charged")]
    private static partial void LogPass(ILogger logger, int shard, int wallets, int sessions, int charged);
}
