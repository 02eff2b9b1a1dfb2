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
    [property: Id(9)] string? EndReason);

/// <summary>Asks the wallet to open a session if its balance covers the minimum runway at the locked rate.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.OpenSessionRequest")]
public sealed record OpenSessionRequest(
    [property: Id(0)] string SessionId,
    [property: Id(1)] string InstanceType,
    [property: Id(2)] string Workload,
    [property: Id(3)] decimal UsdPerHour,
    [property: Id(4)] DateTimeOffset StartedAt,
    [property: Id(5)] TimeSpan MinimumRunway);

/// <summary>Tells the wallet what a session owes in total so far; the wallet debits the difference it has not yet taken.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionChargeRequest")]
public sealed record SessionChargeRequest(
    [property: Id(0)] string SessionId,
    [property: Id(1)] Micros Owed,
    [property: Id(2)] bool Final,
    [property: Id(3)] DateTimeOffset? StoppedAt);

/// <summary>The outcome of a session call on the wallet, with the wallet's record of the session.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.SessionOpResult")]
public sealed record SessionOpResult(
    [property: Id(0)] WalletOpStatus Status,
    [property: Id(1)] SessionView? Session,
    [property: Id(2)] Micros Debited = default,
    [property: Id(3)] string? ErrorCode = null,
    [property: Id(4)] string? Detail = null)
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
