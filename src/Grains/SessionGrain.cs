using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Reminders;
using Microsoft.Extensions.Options;

namespace Qubrid;

/// <summary>What a session grain keeps between activations. Its charged amount is a cache: the wallet holds the truth.</summary>
[GenerateSerializer, Alias("qubrid.SessionGrainState")]
public sealed class SessionGrainState
{
    [Id(0)] public string? UserId { get; set; }
    [Id(1)] public string InstanceType { get; set; } = "";
    [Id(2)] public string Workload { get; set; } = Workloads.Instance;
    [Id(3)] public decimal UsdPerHour { get; set; }
    [Id(4)] public DateTimeOffset StartedAt { get; set; }
    [Id(5)] public SessionState State { get; set; }
    [Id(6)] public DateTimeOffset? StoppedAt { get; set; }
    [Id(7)] public string? EndReason { get; set; }
    [Id(8)] public Micros Charged { get; set; }
}

/// <summary>
/// One metered session. A reminder charges the wallet every interval with the cumulative amount owed,
/// owed(now) = round_down(rate × (now − startedAt)); the wallet debits only what it has not yet taken,
/// so missed, late, repeated or concurrent ticks and a silo dying between two of them change nothing.
/// </summary>
public sealed partial class SessionGrain(
    [PersistentState("session", ClusterNames.GrainStorage)] IPersistentState<SessionGrainState> state,
    BillingClock clock,
    [FromKeyedServices(ReminderTimeProviderNames.Reminders)] TimeProvider reminderClock,
    IOptions<MeteringOptions> meteringOptions,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain, IRemindable
{
    private const string ChargeReminder = "charge";

    private bool _counted;
    private bool _chargeReminderKnown; // this activation registered or saw the charge reminder: a repeated start reads nothing

    private string SessionId => this.GetPrimaryKeyString();
    private SessionGrainState S => state.State;
    private bool Exists => S.UserId is not null;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        CountAsRunning(Exists && S.State == SessionState.Running);
        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CountAsRunning(false);
        // Graceful drain (a rolling upgrade): the reminder's next tick comes from the silo that takes the reminder over, and
        // a tick due during the handover is dropped. Charging up to now here keeps the session's charges at most one
        // interval plus the handover apart. Charges are cumulative (owed(now)), so an extra one changes no total.
        if (reason.ReasonCode != DeactivationReasonCode.ShuttingDown || ShardMode || !Exists || S.State != SessionState.Running) return;
        try
        {
            await Wallet(S.UserId!).ChargeSession(new SessionChargeRequest(SessionId, clock.UtcNow, Final: false))
                .WaitAsync(meteringOptions.Value.ShutdownChargeTimeout, cancellationToken);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Best effort: the next tick charges whatever this did not.
            LogShutdownChargeFailed(logger, e, SessionId);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId}: the charge at the silo's graceful stop did not complete; the next tick charges it")]
    private static partial void LogShutdownChargeFailed(ILogger logger, Exception exception, string sessionId);

    /// <summary>Keeps this activation's share of the running-sessions gauge in step with its state, on every path.</summary>
    private void CountAsRunning(bool running)
    {
        if (running == _counted) return;
        _counted = running;
        if (running) BillingMetrics.SessionStartedRunning();
        else BillingMetrics.SessionStoppedRunning();
    }

    /// <summary>
    /// Stores the state. When that fails (or its answer was lost) this activation's copy and version may
    /// be wrong, so it is dropped: the next activation starts from what is stored, and the wallet holds the truth.
    /// </summary>
    private async Task StoreAsync()
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = new SessionGrainState();
            CountAsRunning(false);
            DeactivateOnIdle();
            throw;
        }
        CountAsRunning(S.State == SessionState.Running);
    }

    // R-SESS-1: a start reads the rate once and the wallet locks it in the session record.
    public async Task<SessionOpResult> Start(StartSessionRequest request)
    {
        var workload = string.IsNullOrEmpty(request.Workload) ? Workloads.Instance : request.Workload;
        if (!Ids.IsValid(SessionId) || !Ids.IsValid(request.UserId))
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.InvalidRequest, $"Session and user ids must be {Ids.Rule}.");
        if (!Workloads.All.Contains(workload))
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.InvalidRequest, $"Workload must be one of {string.Join(", ", Workloads.All)}.");
        if (ShardMode) return await ShardStartAsync(request, workload);

        // A start that died after registering its reminder may have had the wallet open the session: take
        // that record over first, so that this start is compared with it (and never removes its reminder).
        // A reminder whose wallet never opened the session is left over from a start that failed: removed.
        if (!Exists)
        {
            foreach (var reminder in (await this.GetReminders()).Where(r => IsChargeReminder(r.ReminderName)))
            {
                if (!Exists && await AdoptFromWalletAsync(reminder.ReminderName, storeRequired: true)) continue;
                if (!Exists || reminder.ReminderName != ReminderFor(S.UserId!)) await this.UnregisterReminder(reminder);
            }
        }

        if (Exists)
        {
            if (S.UserId != request.UserId || S.InstanceType != request.InstanceType || S.Workload != workload)
                return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionConflict,
                    $"Session '{SessionId}' was started for user {S.UserId} on {S.InstanceType} ({S.Workload}).");
            // A repeated start changes nothing, not even when the next charge comes: an orchestrator that re-posts
            // its starts is billed as one that posts once. Only a missing reminder (a start that failed half-way)
            // is put back, due on the session's own schedule.
            if (S.State == SessionState.Running) await EnsureChargeReminderAsync();
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync(), Existing: true);
        }

        var rate = await GrainFactory.GetGrain<IRateCardGrain>(0).GetRate(request.InstanceType ?? "");
        if (rate is null)
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.UnknownInstanceType, $"Unknown instance type '{request.InstanceType}'.");

        // The reminder comes first and names the wallet: if this activation dies after the wallet opened the
        // session but before the state below is stored, the reminder still fires and the session adopts the
        // wallet's record (ReceiveReminder), so a session the wallet counts as running is always metered.
        var metering = meteringOptions.Value;
        await this.RegisterOrUpdateReminder(ReminderFor(request.UserId), metering.ChargeInterval, metering.ChargeInterval);
        _chargeReminderKnown = true;
        var opened = await Wallet(request.UserId).OpenSession(new OpenSessionRequest(SessionId, rate.InstanceType, workload,
            rate.UsdPerHour, clock.UtcNow, metering.MinimumRunway));
        if (!opened.Succeeded)
        {
            await UnregisterChargeReminderAsync();
            return opened;
        }

        // The wallet's record wins: after a crash and a retried start it holds the first start's time and rate.
        // If storing fails, the reminder (or a retried start, idempotent on the wallet) stores it later.
        Adopt(opened.Session!);
        await StoreAsync();
        LogStarted(logger, SessionId, S.UserId!, S.InstanceType, S.UsdPerHour);
        return opened;
    }

    // R-SESS-6: a stop charges up to the stop and ends the session; a repeated stop charges nothing.
    public async Task<SessionOpResult> Stop()
    {
        if (ShardMode) return await ShardChargeAsync(final: true);
        if (!Exists && !await RecoverAsync()) return NotFound();
        if (S.State != SessionState.Running)
        {
            await UnregisterChargeReminderAsync();
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync());
        }
        var result = await Wallet(S.UserId!).ChargeSession(new SessionChargeRequest(SessionId, clock.UtcNow, Final: true));
        if (!result.Succeeded) return result;
        Adopt(result.Session!);
        await StoreAsync();
        await UnregisterChargeReminderAsync();
        LogEnded(logger, SessionId, S.EndReason ?? "", S.Charged.ToUsd());
        return result;
    }

    public async Task<SessionOpResult> Tick()
    {
        if (ShardMode) return await ShardChargeAsync(final: false);
        if (!Exists) return NotFound();
        if (S.State != SessionState.Running)
        {
            await UnregisterChargeReminderAsync();
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync());
        }
        var result = await Wallet(S.UserId!).ChargeSession(new SessionChargeRequest(SessionId, clock.UtcNow, Final: false));
        if (!result.Succeeded) return result;
        var wasRunning = S.State;
        Adopt(result.Session!);
        if (S.State != wasRunning)
        {
            await StoreAsync();
            await UnregisterChargeReminderAsync();
            LogEnded(logger, SessionId, S.EndReason ?? "", S.Charged.ToUsd());
        }
        return result;
    }

    public async Task<SessionView?> Get() =>
        ShardMode ? await ShardGetAsync() : Exists || await RecoverAsync() ? await ViewAsync() : null;

    /// <summary>
    /// A session with no stored state may still be known to its wallet: its start failed after the wallet opened it
    /// (the orchestrator got an error). Its charge reminder names the wallet; if the wallet has the session, this
    /// activation takes the wallet's record over, so that get and stop see what the wallet knows.
    /// </summary>
    private async Task<bool> RecoverAsync()
    {
        foreach (var reminder in (await this.GetReminders()).Where(r => IsChargeReminder(r.ReminderName)))
        {
            if (await AdoptFromWalletAsync(reminder.ReminderName, storeRequired: false)) return true;
        }
        return false;
    }

    /// <summary>
    /// Registers the charge reminder if it is missing, due at the session's next interval boundary counted from its
    /// start; an existing reminder is left exactly as it is.
    /// </summary>
    private async Task EnsureChargeReminderAsync()
    {
        if (_chargeReminderKnown) return;
        var name = ReminderFor(S.UserId!);
        if (await this.GetReminder(name) is not null)
        {
            _chargeReminderKnown = true;
            return;
        }
        var interval = meteringOptions.Value.ChargeInterval;
        var elapsed = clock.UtcNow - S.StartedAt;
        var due = elapsed <= TimeSpan.Zero ? interval : interval - TimeSpan.FromTicks(elapsed.Ticks % interval.Ticks);
        await this.RegisterOrUpdateReminder(name, due, interval);
        _chargeReminderKnown = true;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (ShardMode)
        {
            await ShardTakeOverReminderAsync(reminderName);
            return;
        }
        if (!IsChargeReminder(reminderName)) return;
        if (!Exists && !await AdoptFromWalletAsync(reminderName, storeRequired: true))
        {
            await UnregisterChargeReminderAsync();
            return;
        }
        // The tick's time is on the reminder service's clock, so its lag is measured on that clock too.
        BillingMetrics.TickLagMicros.Record(Math.Max(0, (long)(reminderClock.GetUtcNow() - status.CurrentTickTime).TotalMicroseconds));
        var result = await Tick();
        if (result.Debited.IsPositive) BillingMetrics.SessionCharges.Add(1);
    }

    private IWalletGrain Wallet(string userId) => GrainFactory.GetGrain<IWalletGrain>(userId);

    /// <summary>The charge reminder carries the wallet's id, so that a session whose state was never stored can find its record.</summary>
    private static string ReminderFor(string userId) => $"{ChargeReminder}:{userId}";

    /// <summary>The charge reminder of a session (either form: "charge" or "charge:USER").</summary>
    public static bool IsChargeReminder(string name) =>
        name == ChargeReminder || name.StartsWith($"{ChargeReminder}:", StringComparison.Ordinal);

    // R-SESS-8: a session grain without state adopts the wallet's record.
    /// <summary>
    /// A reminder fired for a session with no stored state: its start died after the reminder was registered.
    /// If the wallet opened the session, take over the wallet's record and store it; otherwise there is nothing to meter.
    /// </summary>
    private async Task<bool> AdoptFromWalletAsync(string reminderName, bool storeRequired)
    {
        if (reminderName.Length <= ChargeReminder.Length + 1) return false;
        var userId = reminderName[(ChargeReminder.Length + 1)..];
        // Behind whatever the wallet has queued: an open still on its way must not be mistaken for none.
        if (await Wallet(userId).GetSessionAfterQueued(SessionId) is not { } recorded) return false;
        Adopt(recorded);
        LogAdopted(logger, SessionId, userId);
        try
        {
            await StoreAsync();
        }
        catch (Exception) when (!storeRequired)
        {
            // A read or a stop goes on from the wallet's record (the truth); the state is stored by a later call.
            Adopt(recorded);
        }
        return true;
    }

    private void Adopt(SessionView session)
    {
        S.UserId = session.UserId;
        S.InstanceType = session.InstanceType;
        S.Workload = session.Workload;
        S.UsdPerHour = session.UsdPerHour;
        S.StartedAt = session.StartedAt;
        S.State = session.State;
        S.StoppedAt = session.StoppedAt;
        S.EndReason = session.EndReason;
        S.Charged = session.Charged;
    }

    /// <summary>The wallet's record of this session (authoritative), or the local copy if the wallet has none.</summary>
    private async Task<SessionView> ViewAsync()
    {
        var recorded = await Wallet(S.UserId!).GetSession(SessionId);
        return recorded ?? new SessionView(SessionId, S.UserId!, S.InstanceType, S.Workload, S.UsdPerHour, S.StartedAt, S.State,
            S.StoppedAt, S.Charged, S.EndReason);
    }

    private SessionOpResult NotFound() =>
        SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionNotFound, $"Session '{SessionId}' was never started.");

    private async Task UnregisterChargeReminderAsync()
    {
        _chargeReminderKnown = false;
        foreach (var reminder in await this.GetReminders())
        {
            if (IsChargeReminder(reminder.ReminderName)) await this.UnregisterReminder(reminder);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} started for {UserId} on {InstanceType} at {UsdPerHour} USD/h")]
    private static partial void LogStarted(ILogger logger, string sessionId, string userId, string instanceType, decimal usdPerHour);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Session {SessionId} was opened on wallet {UserId} by a start that died before storing it; metering it from the wallet's record")]
    private static partial void LogAdopted(ILogger logger, string sessionId, string userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} ended ({EndReason}); charged {ChargedUsd} USD")]
    private static partial void LogEnded(ILogger logger, string sessionId, string endReason, decimal chargedUsd);
}
