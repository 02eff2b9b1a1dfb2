using Microsoft.Extensions.Logging;

namespace Qubrid.Wallets;

/// <summary>
/// A wallet's expiry reminder (docs/rules.md#R-EXP-2): one reminder due at the wallet's next expiry, so that an idle
/// wallet still writes its expiration entries, and a failed expiry retried by the grain itself within seconds.
/// </summary>
internal sealed partial class WalletExpiryReminder(Grain grain, BillingClock clock, ILogger logger)
{
    public const string Name = "expiry";
    private static readonly TimeSpan MaxReminderDue = TimeSpan.FromDays(7);
    // The reminder's period is only the backstop of a failed expiry: the grain retries sooner by itself (below).
    private static readonly TimeSpan RetryPeriod = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan MaxExpiryBackoff = TimeSpan.FromSeconds(30);

    private DateTimeOffset? _scheduledFor;
    private IGrainTimer? _retry;
    private int _failures;

    private string WalletId => grain.GetPrimaryKeyString();

    /// <summary>
    /// Keeps the reminder due at <paramref name="next"/> (none when null). Costs nothing when the next expiry did not move,
    /// except on activation (<paramref name="initial"/>), which checks the reminder once.
    /// </summary>
    public async Task ScheduleAsync(DateTimeOffset? next, bool walletExists, bool initial)
    {
        if (next == _scheduledFor && !initial) return;
        if (next is { } at)
        {
            var due = at - clock.UtcNow;
            if (due < TimeSpan.Zero) due = TimeSpan.Zero;
            if (due > MaxReminderDue) due = MaxReminderDue;
            await grain.RegisterOrUpdateReminder(Name, due, RetryPeriod);
        }
        else if (!initial || walletExists)
        {
            var existing = await grain.GetReminder(Name);
            if (existing is not null) await grain.UnregisterReminder(existing);
        }
        _scheduledFor = next;
    }

    /// <summary>On activation: the reminder could not be checked; the next batch schedules it whatever the next expiry.</summary>
    public void ScheduleFailed(Exception e)
    {
        _scheduledFor = DateTimeOffset.MinValue;
        LogReminderFailed(logger, e, WalletId);
    }

    /// <summary>
    /// Writes due expirations; when the database fails, tries again by itself within seconds (doubling up to
    /// <see cref="MaxExpiryBackoff"/>) rather than waiting for the reminder's next period.
    /// </summary>
    public async Task ExpireWithRetriesAsync(Func<Task> expireDueLots)
    {
        try
        {
            await expireDueLots();
            _failures = 0;
            _retry?.Dispose();
            _retry = null;
        }
        catch (Exception e)
        {
            _failures++;
            var doubled = TimeSpan.FromSeconds(1L << Math.Min(_failures, 10)); // 2 s, 4 s, 8 s, … in whole seconds
            var delay = doubled < MaxExpiryBackoff ? doubled : MaxExpiryBackoff;
            LogExpiryRetry(logger, e, WalletId, delay);
            _retry?.Dispose();
            _retry = grain.RegisterGrainTimer(() => ExpireWithRetriesAsync(expireDueLots),
                new GrainTimerCreationOptions(delay, Timeout.InfiniteTimeSpan) { KeepAlive = true, Interleave = true });
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: the expiry reminder could not be scheduled; retrying after the next batch")]
    private static partial void LogReminderFailed(ILogger logger, Exception exception, string walletId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Wallet {WalletId}: writing due expirations failed; retrying in {Delay}")]
    private static partial void LogExpiryRetry(ILogger logger, Exception exception, string walletId, TimeSpan delay);
}
