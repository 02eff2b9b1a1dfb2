using System.Security.Cryptography;
using System.Text;

namespace Qubrid;

/// <summary>Which metering shard a wallet belongs to: a stable hash of its id (never string.GetHashCode, which changes per process).</summary>
public static class MeteringShards
{
    /// <summary>meter_shard values are 0..HashSpace−1; the shard count must not exceed it.</summary>
    public const int HashSpace = 65_536;

    /// <summary>The first two bytes of MD5(UTF-8 id), as migration 0030 computes <c>meter_shard</c> in SQL.</summary>
    public static int HashOf(string walletId)
    {
        Span<byte> hash = stackalloc byte[MD5.HashSizeInBytes];
        MD5.HashData(Encoding.UTF8.GetBytes(walletId), hash);
        return (hash[0] << 8) | hash[1];
    }

    public static int ShardOf(string walletId, int shardCount) => HashOf(walletId) % shardCount;

    /// <summary>Every meter_shard value that falls in <paramref name="shard"/> of <paramref name="shardCount"/>.</summary>
    public static int[] ValuesOf(int shard, int shardCount)
    {
        var values = new int[(HashSpace - 1 - shard) / shardCount + 1];
        for (int i = 0; i < values.Length; i++) values[i] = shard + i * shardCount;
        return values;
    }
}
