using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Storage;

/// <summary>What metering shards read: the wallets with running sessions in a shard, from the ledger's session table (the truth).</summary>
public interface IMeteringStore
{
    /// <summary>Wallet ids with at least one running session whose <c>meter_shard % shardCount = shard</c>, in id order.</summary>
    Task<IReadOnlyList<string>> ListMeteredWalletsAsync(int shard, int shardCount, CancellationToken ct = default);
}

/// <summary>The PostgreSQL side of <see cref="IMeteringStore"/> (migration 0030).</summary>
public sealed class MeteringStore(NpgsqlDataSource dataSource) : IMeteringStore
{
    /// <summary>Most wallets one shard charges per pass; more is a fault (raise the shard count).</summary>
    public const int MaxWalletsPerShard = 1_000_000;

    public async Task<IReadOnlyList<string>> ListMeteredWalletsAsync(int shard, int shardCount, CancellationToken ct = default)
    {
        if (shardCount < 1 || shard < 0 || shard >= shardCount)
            throw new ArgumentOutOfRangeException(nameof(shard), $"Shard {shard} of {shardCount} does not exist.");
        try
        {
            return await ListOnceAsync(shard, shardCount, ct);
        }
        catch (NpgsqlException e) when (e is not PostgresException)
        {
            dataSource.Clear(); // a connection broken by a database restart fails once: a reminder must not lose its pass to it
            return await ListOnceAsync(shard, shardCount, ct);
        }
    }

    private async Task<IReadOnlyList<string>> ListOnceAsync(int shard, int shardCount, CancellationToken ct)
    {
        // The values of meter_shard in this shard, so that the partial index is probed rather than scanned whole.
        var values = MeteringShards.ValuesOf(shard, shardCount);
        await using var cmd = dataSource.CreateCommand(
            """
            SELECT DISTINCT wallet_id FROM qubrid_wallet_sessions
            WHERE state = 'running' AND meter_shard = ANY($1) AND meter_shard % $2 = $3
            ORDER BY wallet_id
            LIMIT $4
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = values, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Integer });
        cmd.Parameters.Add(new NpgsqlParameter { Value = shardCount });
        cmd.Parameters.Add(new NpgsqlParameter { Value = shard });
        cmd.Parameters.Add(new NpgsqlParameter { Value = MaxWalletsPerShard + 1 });
        var wallets = new List<string>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) wallets.Add(reader.GetString(0));
        if (wallets.Count > MaxWalletsPerShard)
            throw new InvalidOperationException($"Metering shard {shard} of {shardCount} holds more than {MaxWalletsPerShard} wallets; raise Qubrid:Metering:Shards.");
        return wallets;
    }
}
