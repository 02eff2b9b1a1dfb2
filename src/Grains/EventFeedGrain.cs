using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Reads the durable event feed.</summary>
[StatelessWorker]
public sealed class EventFeedGrain(Storage.ILedgerStore store) : Grain, IEventFeedGrain
{
    public Task<IReadOnlyList<BillingEvent>> Read(long afterId, int limit) => store.ReadEventsAsync(afterId, limit);
}
