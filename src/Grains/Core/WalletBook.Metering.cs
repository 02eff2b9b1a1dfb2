namespace Qubrid.Core;

/// <summary>Metering shards (docs/design.md, sessions): one call charges every running session of the wallet.</summary>
public sealed partial class WalletBook
{
    /// <summary>
    /// Charges every running session up to <paramref name="at"/>, oldest start first, each through <see cref="ChargeSession"/>
    /// (so each is exactly what its own tick would have charged, and ends on the same rules). Sessions the batch ended
    /// before it (a stop queued ahead) are not running and charge nothing.
    /// </summary>
    public RunningSessionsCharge ChargeRunningSessions(DateTimeOffset at, DateTimeOffset now) => DecideRunningSessionsCharge(at, now).Result;

    /// <summary><see cref="ChargeRunningSessions"/> with the effects of its charges, folded in charge order.</summary>
    public Decided<RunningSessionsCharge> DecideRunningSessionsCharge(DateTimeOffset at, DateTimeOffset now)
    {
        var running = _sessions.Values.Where(x => x.State == SessionState.Running).OrderBy(x => x.StartedAt)
            .ThenBy(x => x.SessionId, StringComparer.Ordinal).Select(x => x.SessionId).ToList();
        int charged = 0, ended = 0;
        var debited = Micros.Zero;
        var effects = BatchEffects.None;
        foreach (var id in running)
        {
            var (result, charge) = DecideSessionCharge(new SessionChargeRequest(id, at, Final: false), now);
            effects = effects.Then(charge);
            if (result.Debited.IsPositive)
            {
                charged++;
                debited += result.Debited;
            }
            if (result.Session is { State: not SessionState.Running }) ended++;
        }
        return new(new RunningSessionsCharge(running.Count, charged, debited, ended), effects);
    }
}
