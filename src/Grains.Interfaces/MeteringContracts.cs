using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>How running sessions are charged every interval.</summary>
public enum MeteringMode
{
    /// <summary>Each session grain has its own Orleans reminder and charges its session.</summary>
    SessionReminders = 0,

    /// <summary>A metering shard grain per bucket of wallets has one reminder and charges all their running sessions in one wallet batch each.</summary>
    Shards = 1,
}

/// <summary>What one wallet's charge of all its running sessions did.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.RunningSessionsCharge")]
public sealed record RunningSessionsCharge(
    [property: Id(0)] int Running,
    [property: Id(1)] int Charged,
    [property: Id(2)] Micros Debited,
    [property: Id(3)] int Ended);

/// <summary>What one pass of a metering shard did.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.ShardPass")]
public sealed record ShardPass(
    [property: Id(0)] int Wallets,
    [property: Id(1)] int Sessions,
    [property: Id(2)] int Charged,
    [property: Id(3)] int Failed,
    [property: Id(4)] DateTimeOffset At);

/// <summary>
/// One bucket of wallets (key 0..Shards−1) in <see cref="MeteringMode.Shards"/>: one reminder at the charge interval; each tick
/// reads from the ledger's session table the wallets with running sessions in the bucket and has each charge all of them.
/// </summary>
[Alias("qubrid.IMeteringShardGrain")]
[Version(0)]
public interface IMeteringShardGrain : IGrainWithIntegerKey
{
    /// <summary>Makes sure the shard's reminder exists (idempotent); a session start calls it before the wallet opens the session.</summary>
    [Alias("Ensure"), AlwaysInterleave] Task Ensure();

    /// <summary>One charge pass now (what the reminder does every interval); returns once every wallet of the bucket was called.</summary>
    [Alias("ChargeNow")] Task<ShardPass> ChargeNow();
}
