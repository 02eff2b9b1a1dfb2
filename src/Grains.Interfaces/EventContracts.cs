using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Kinds of events the orchestrator reads.</summary>
public static class EventKinds
{
    public const string SessionTerminated = "session_terminated";
    public const string LowBalance = "low_balance";
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
    [property: Id(7)] long? RunwaySeconds);

/// <summary>Events after a cursor, oldest first; ids only grow in commit order, so a cursor never skips one.</summary>
[Alias("qubrid.IEventFeedGrain")]
public interface IEventFeedGrain : IGrainWithIntegerKey
{
    [Alias("Read"), ReadOnly] Task<IReadOnlyList<BillingEvent>> Read(long afterId, int limit);
}
