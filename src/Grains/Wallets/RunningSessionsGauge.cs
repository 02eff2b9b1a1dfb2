using Qubrid.Core;

namespace Qubrid.Wallets;

/// <summary>
/// A wallet activation's share of the running-sessions gauge. With metering shards, session grains are not resident while
/// their sessions run: the gauge counts them where they are metered, in their wallet (with a reminder per session, the
/// session grains count and this counts nothing).
/// </summary>
internal sealed class RunningSessionsGauge(bool counts)
{
    private int _counted;

    public void Count(WalletBook? book)
    {
        if (!counts) return;
        int running = book?.Sessions.Count(s => s.State == SessionState.Running) ?? 0;
        BillingMetrics.AdjustRunningSessions(running - _counted);
        _counted = running;
    }

    /// <summary>The activation ends: its sessions are no longer counted here.</summary>
    public void Release()
    {
        BillingMetrics.AdjustRunningSessions(-_counted);
        _counted = 0;
    }
}
