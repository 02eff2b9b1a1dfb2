using Orleans.Storage;
using Qubrid.Core;
using Qubrid.Storage;

namespace Qubrid.Tests.Simulation;

/// <summary>The real PostgreSQL ledger store with the simulation's faults in front: an outage, and a commit whose answer is lost.</summary>
public sealed class FaultyLedgerStore(ILedgerStore inner, SimWorld world) : ILedgerStore
{
    public Task<WalletBook?> LoadAsync(string walletId, DateTimeOffset now, CancellationToken ct = default)
    {
        world.ThrowIfDown("wallet load");
        return inner.LoadAsync(walletId, now, ct);
    }

    public Task<Hold?> FindHoldAsync(string walletId, long number, CancellationToken ct = default)
    {
        world.ThrowIfDown("hold lookup");
        return inner.FindHoldAsync(walletId, number, ct);
    }

    public Task<List<SessionView>> FindSessionsAsync(string walletId, IReadOnlyCollection<string> sessionIds, CancellationToken ct = default)
    {
        world.ThrowIfDown("session lookup");
        return inner.FindSessionsAsync(walletId, sessionIds, ct);
    }

    public Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(string walletId, IReadOnlyCollection<string> keys, CancellationToken ct = default)
    {
        world.ThrowIfDown("outcome lookup");
        return inner.FindOutcomesAsync(walletId, keys, ct);
    }

    public async Task<long> CommitAsync(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes, DateTimeOffset now, CancellationToken ct = default)
    {
        world.ThrowIfDown("commit");
        var version = await inner.CommitAsync(book, changes, outcomes, now, ct);
        if (world.TakeLostCommitAnswer()) throw new Npgsql.NpgsqlException("simulated: the commit's answer was lost");
        return version;
    }

    public Task<IReadOnlyList<CreditLot>> ListLotsAsync(string walletId, int limit, CancellationToken ct = default)
    {
        world.ThrowIfDown("lots");
        return inner.ListLotsAsync(walletId, limit, ct);
    }

    public Task<LedgerPage> ReadLedgerAsync(string walletId, LedgerQuery query, CancellationToken ct = default)
    {
        world.ThrowIfDown("ledger");
        return inner.ReadLedgerAsync(walletId, query, ct);
    }

    public Task<IReadOnlyList<UsageRow>> ReadUsageAsync(string walletId, UsageQuery query, CancellationToken ct = default)
    {
        world.ThrowIfDown("usage");
        return inner.ReadUsageAsync(walletId, query, ct);
    }

    public Task<IReadOnlyList<BillingEvent>> ReadEventsAsync(long afterId, int limit, CancellationToken ct = default)
    {
        world.ThrowIfDown("events");
        return inner.ReadEventsAsync(afterId, limit, ct);
    }

    public Task<SessionPage> ListSessionsAsync(SessionQuery query, CancellationToken ct = default)
    {
        world.ThrowIfDown("session list");
        return inner.ListSessionsAsync(query, ct);
    }
}

/// <summary>The metering shards' reads with the simulation's outage in front.</summary>
public sealed class FaultyMeteringStore(IMeteringStore inner, SimWorld world) : IMeteringStore
{
    public Task<IReadOnlyList<string>> ListMeteredWalletsAsync(int shard, int shardCount, CancellationToken ct = default)
    {
        world.ThrowIfDown("metered wallets");
        return inner.ListMeteredWalletsAsync(shard, shardCount, ct);
    }
}

/// <summary>The real ADO.NET grain storage with the simulation's faults in front: a write that fails, an outage.</summary>
public sealed class FaultyGrainStorage(IGrainStorage inner, SimWorld world) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        world.ThrowIfDown("state read");
        return inner.ReadStateAsync(stateName, grainId, grainState);
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        world.ThrowIfDown("state write");
        if (world.TakeStateWriteFault()) throw new Npgsql.NpgsqlException("simulated: the state write failed");
        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        world.ThrowIfDown("state clear");
        return inner.ClearStateAsync(stateName, grainId, grainState);
    }

    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);
}
