using Orleans.Concurrency;
using Qubrid.Storage;

namespace Qubrid;

/// <summary>Lists sessions as their wallets recorded them (the ledger's transaction writes these rows). Stateless.</summary>
[StatelessWorker]
public sealed class SessionCatalogGrain(ILedgerStore store) : Grain, ISessionCatalogGrain
{
    // R-SESS-10: newest start first, keyset cursor (Storage/LedgerStore.ListSessionsAsync).
    public Task<SessionPage> List(SessionQuery query) => store.ListSessionsAsync(query);
}
