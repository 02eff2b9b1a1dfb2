using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Kinds of events (docs/rules.md#R-EVENT-1). Session and balance events also reach the orchestrator's stream.</summary>
public static class EventKinds
{
    public const string SessionTerminated = "session_terminated";
    public const string LowBalance = "low_balance";
    public const string BalanceDepleted = "balance_depleted";
    public const string BalanceRecovered = "balance_recovered";
    public const string TopupSucceeded = "topup_succeeded";
    public const string TopupFailed = "topup_failed";
    public const string AutoTopupDisabled = "auto_topup_disabled";
    public const string CreditsExpiring = "credits_expiring";
    public const string SpendLimitWarning = "spend_limit_warning";
    public const string SpendLimitReached = "spend_limit_reached";
    public const string HoldExpired = "hold_expired";
    public const string WebhookDisabled = "webhook_disabled";
    public const string RefundSucceeded = "refund_succeeded";
    public const string RefundFailed = "refund_failed";

    public static IReadOnlyList<string> All { get; } =
    [
        SessionTerminated, LowBalance, BalanceDepleted, BalanceRecovered, TopupSucceeded, TopupFailed, AutoTopupDisabled,
        CreditsExpiring, SpendLimitWarning, SpendLimitReached, HoldExpired, WebhookDisabled, RefundSucceeded, RefundFailed,
    ];
}

/// <summary>A durable event, written in the same transaction as the ledger change that caused it.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.BillingEvent")]
public sealed record BillingEvent(
    [property: Id(0)] long Id,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string Kind,
    [property: Id(3)] string UserId,
    [property: Id(4)] string? SessionId,
    [property: Id(5)] string? Reason,
    [property: Id(6)] Micros Balance,
    [property: Id(7)] long? RunwaySeconds,
    [property: Id(8)] string? Data = null); // what is particular to the kind, a JSON object text (e.g. {"period":"hour","limit":80}); null when nothing is

/// <summary>Events after a cursor, oldest first; ids only grow in commit order, so a cursor never skips one.</summary>
[Alias("qubrid.IEventFeedGrain")]
[Version(0)]
public interface IEventFeedGrain : IGrainWithIntegerKey
{
    [Alias("Read"), ReadOnly] Task<IReadOnlyList<BillingEvent>> Read(long afterId, int limit);
}
