using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Where a metered session is in its life.</summary>
public enum SessionState : byte
{
    Running = 1,
    Stopped = 2,
    Terminated = 3,
}

/// <summary>Why a session ended: stopped by the orchestrator, or out of credits.</summary>
public static class EndReasons
{
    public const string Stopped = "stopped";
    public const string InsufficientCredits = "insufficient_credits";
    public const string SpendLimit = "spend_limit";
    public static readonly IReadOnlyList<string> All = [Stopped, InsufficientCredits, SpendLimit];
}

/// <summary>The wire names of session states.</summary>
public static class SessionStates
{
    public static string ToWire(this SessionState state) => state switch
    {
        SessionState.Running => "running",
        SessionState.Stopped => "stopped",
        _ => "terminated",
    };

    public static bool TryParse(string? wire, out SessionState state)
    {
        foreach (var s in Enum.GetValues<SessionState>())
        {
            if (s.ToWire() == wire) { state = s; return true; }
        }
        state = default;
        return false;
    }
}

/// <summary>What kind of work a session is: GPU instances, training jobs and AI Model Studio notebooks all meter alike.</summary>
public static class Workloads
{
    public const string Instance = "instance";
    public const string Training = "training";
    public const string Notebook = "notebook";
    public static readonly IReadOnlyList<string> All = [Instance, Training, Notebook];
}

/// <summary>A metered session as its wallet records it: the wallet is the source of truth for what it paid.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionView")]
public sealed record SessionView(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string UserId,
    [property: Id(2)] string InstanceType,
    [property: Id(3)] string Workload,
    [property: Id(4)] decimal UsdPerHour,
    [property: Id(5)] DateTimeOffset StartedAt,
    [property: Id(6)] SessionState State,
    [property: Id(7)] DateTimeOffset? StoppedAt,
    [property: Id(8)] Micros Charged,
    [property: Id(9)] string? EndReason,
    [property: Id(10)] DateTimeOffset? ChargedThrough = null);

/// <summary>Asks the wallet to open a session if its balance covers the minimum runway at the locked rate.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OpenSessionRequest")]
public sealed record OpenSessionRequest(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string InstanceType,
    [property: Id(2)] string Workload,
    [property: Id(3)] decimal UsdPerHour,
    [property: Id(4)] DateTimeOffset StartedAt,
    [property: Id(5)] TimeSpan MinimumRunway);

/// <summary>
/// Tells the wallet to charge a session up to <c>At</c> (the caller's clock): the wallet computes what the session
/// owes from its own record and debits the difference it has not yet taken. <c>Final</c> stops the session at
/// <c>At</c>, or at the latest instant already charged for if that is later (clocks of silos may differ).
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionChargeRequest")]
public sealed record SessionChargeRequest(
    [property: Id(0)] string SessionId,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] bool Final);

/// <summary>The outcome of a session call on the wallet, with the wallet's record of the session.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionOpResult")]
public sealed record SessionOpResult(
    [property: Id(0)] WalletOpStatus Status,
    [property: Id(1)] SessionView? Session,
    [property: Id(2)] Micros Debited = default,
    [property: Id(3)] string? ErrorCode = null,
    [property: Id(4)] string? Detail = null,
    [property: Id(5)] bool Existing = false)
{
    public bool Succeeded => Status == WalletOpStatus.Applied;

    public static SessionOpResult Fail(WalletOpStatus status, string code, string detail) => new(status, null, default, code, detail);
}

/// <summary>The orchestrator's request to start metering.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.StartSessionRequest")]
public sealed record StartSessionRequest(
    [property: Id(0)] string UserId,
    [property: Id(1)] string InstanceType,
    [property: Id(2)] string? Workload = null);

/// <summary>One GPU (or CPU) session, keyed by the orchestrator's session id. Its reminder charges the wallet every interval.</summary>
[Alias("qubrid.ISessionGrain")]
[Version(0)]
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Locks the rate and starts metering. Repeating the same start is harmless; a different one is a conflict.</summary>
    [Alias("Start")] Task<SessionOpResult> Start(StartSessionRequest request);

    /// <summary>Charges the final partial interval and stops. Repeating it is harmless.</summary>
    [Alias("Stop")] Task<SessionOpResult> Stop();

    /// <summary>Charges what is owed now (what the reminder does every interval).</summary>
    [Alias("Tick")] Task<SessionOpResult> Tick();

    /// <summary>Null when the session was never started.</summary>
    [Alias("Get")] Task<SessionView?> Get();
}

/// <summary>A page of the session list: newest first, filtered by wallet and state.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionQuery")]
public sealed record SessionQuery(
    [property: Id(0)] string? UserId,
    [property: Id(1)] SessionState? State,
    [property: Id(2)] SessionCursor? After,
    [property: Id(3)] int Limit)
{
    public const int MaxLimit = 200;
}

/// <summary>Where a page of sessions ends: the last session's start and ids (the list's order).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionCursor")]
public sealed record SessionCursor(
    [property: Id(0)] DateTimeOffset StartedAt,
    [property: Id(1)] string UserId,
    [property: Id(2)] string SessionId);

[GenerateSerializer, Immutable, Alias("qubrid.SessionPage")]
public sealed record SessionPage([property: Id(0)] IReadOnlyList<SessionView> Items, [property: Id(1)] SessionCursor? Next);

/// <summary>Every session as the wallets record them, for orchestrators that reconcile what runs with what is billed.</summary>
[Alias("qubrid.ISessionCatalogGrain")]
[Version(0)]
public interface ISessionCatalogGrain : IGrainWithIntegerKey
{
    [Alias("List"), ReadOnly] Task<SessionPage> List(SessionQuery query);
}
