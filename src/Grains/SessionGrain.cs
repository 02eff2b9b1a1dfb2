using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Qubrid.Core;

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
    [PersistentState("session", "qubrid")] IPersistentState<SessionGrainState> state,
    BillingClock clock,
    IOptions<MeteringOptions> meteringOptions,
    ILogger<SessionGrain> logger) : Grain, ISessionGrain, IRemindable
{
    private const string ChargeReminder = "charge";
    private static readonly Regex IdPattern = new("^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$", RegexOptions.Compiled);

    private string SessionId => this.GetPrimaryKeyString();
    private SessionGrainState S => state.State;
    private bool Exists => S.UserId is not null;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Exists && S.State == SessionState.Running) BillingMetrics.SessionStartedRunning();
        return Task.CompletedTask;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (Exists && S.State == SessionState.Running) BillingMetrics.SessionStoppedRunning();
        return Task.CompletedTask;
    }

    public async Task<SessionOpResult> Start(StartSessionRequest request)
    {
        var workload = string.IsNullOrEmpty(request.Workload) ? Workloads.Instance : request.Workload;
        if (!IdPattern.IsMatch(SessionId) || string.IsNullOrEmpty(request.UserId) || !IdPattern.IsMatch(request.UserId))
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.InvalidRequest, "Session and user ids must be 1–128 letters, digits or . _ : @ -.");
        if (!Workloads.All.Contains(workload))
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.InvalidRequest, $"Workload must be one of {string.Join(", ", Workloads.All)}.");

        if (Exists)
        {
            if (S.UserId != request.UserId || S.InstanceType != request.InstanceType || S.Workload != workload)
                return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.SessionConflict,
                    $"Session '{SessionId}' was started for user {S.UserId} on {S.InstanceType} ({S.Workload}).");
            // A retried start may follow a first attempt that failed after the wallet opened the session:
            // make sure the state is stored and the charge reminder exists (both are safe to repeat).
            if (S.State == SessionState.Running)
            {
                await state.WriteStateAsync();
                await this.RegisterOrUpdateReminder(ChargeReminder, meteringOptions.Value.ChargeInterval, meteringOptions.Value.ChargeInterval);
            }
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync());
        }

        var rate = await GrainFactory.GetGrain<IRateCardGrain>(0).GetRate(request.InstanceType ?? "");
        if (rate is null)
            return SessionOpResult.Fail(WalletOpStatus.Invalid, ErrorCodes.UnknownInstanceType, $"Unknown instance type '{request.InstanceType}'.");

        var metering = meteringOptions.Value;
        var opened = await Wallet(request.UserId).OpenSession(new OpenSessionRequest(SessionId, rate.InstanceType, workload,
            rate.UsdPerHour, clock.UtcNow, metering.MinimumRunway));
        if (!opened.Succeeded) return opened;

        // The wallet's record wins: after a crash and a retried start it holds the first start's time and rate.
        Adopt(opened.Session!);
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            state.State = new SessionGrainState(); // not stored: the retried start opens (idempotently) and stores again
            throw;
        }
        if (S.State == SessionState.Running) BillingMetrics.SessionStartedRunning();
        await this.RegisterOrUpdateReminder(ChargeReminder, metering.ChargeInterval, metering.ChargeInterval);
        LogStarted(logger, SessionId, S.UserId!, S.InstanceType, S.UsdPerHour);
        return opened;
    }

    public async Task<SessionOpResult> Stop()
    {
        if (!Exists) return NotFound();
        if (S.State != SessionState.Running)
        {
            await UnregisterChargeReminderAsync();
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync());
        }
        var stoppedAt = clock.UtcNow;
        var result = await Wallet(S.UserId!).ChargeSession(new SessionChargeRequest(SessionId,
            Metering.Owed(S.UsdPerHour, S.StartedAt, stoppedAt), Final: true, stoppedAt));
        if (!result.Succeeded) return result;
        Adopt(result.Session!);
        await state.WriteStateAsync();
        BillingMetrics.SessionStoppedRunning();
        await UnregisterChargeReminderAsync();
        LogEnded(logger, SessionId, S.EndReason ?? "", S.Charged.ToUsd());
        return result;
    }

    public async Task<SessionOpResult> Tick()
    {
        if (!Exists) return NotFound();
        if (S.State != SessionState.Running)
        {
            await UnregisterChargeReminderAsync();
            return new SessionOpResult(WalletOpStatus.Applied, await ViewAsync());
        }
        var result = await Wallet(S.UserId!).ChargeSession(new SessionChargeRequest(SessionId,
            Metering.Owed(S.UsdPerHour, S.StartedAt, clock.UtcNow), Final: false, null));
        if (!result.Succeeded) return result;
        var wasRunning = S.State;
        Adopt(result.Session!);
        if (S.State != wasRunning)
        {
            await state.WriteStateAsync();
            BillingMetrics.SessionStoppedRunning();
            await UnregisterChargeReminderAsync();
            LogEnded(logger, SessionId, S.EndReason ?? "", S.Charged.ToUsd());
        }
        return result;
    }

    public async Task<SessionView?> Get() => Exists ? await ViewAsync() : null;

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != ChargeReminder) return;
        if (!Exists)
        {
            await UnregisterChargeReminderAsync();
            return;
        }
        // The reminder service schedules on real time, so its lag is measured on real time too.
        BillingMetrics.TickLagMicros.Record(Math.Max(0, (long)(TimeProvider.System.GetUtcNow() - status.CurrentTickTime).TotalMicroseconds));
        var result = await Tick();
        if (result.Debited.IsPositive) BillingMetrics.SessionCharges.Add(1);
    }

    private IWalletGrain Wallet(string userId) => GrainFactory.GetGrain<IWalletGrain>(userId);

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
        var reminder = await this.GetReminder(ChargeReminder);
        if (reminder is not null) await this.UnregisterReminder(reminder);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} started for {UserId} on {InstanceType} at {UsdPerHour} USD/h")]
    private static partial void LogStarted(ILogger logger, string sessionId, string userId, string instanceType, decimal usdPerHour);

    [LoggerMessage(Level = LogLevel.Information, Message = "Session {SessionId} ended ({EndReason}); charged {ChargedUsd} USD")]
    private static partial void LogEnded(ILogger logger, string sessionId, string endReason, decimal chargedUsd);
}
