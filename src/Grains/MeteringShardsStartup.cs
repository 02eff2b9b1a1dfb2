using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Qubrid;

/// <summary>
/// In <see cref="MeteringMode.Shards"/>, once the silo is active, makes sure every configured shard has its reminder. Starts do
/// this for their own shard; this covers the shards whose wallets were opened before (a switch from SessionReminders, a shard
/// count raised), so that every running session in the ledger belongs to a shard that ticks. In the background: a failure is
/// logged and the next silo start (or the next session start of the shard) tries again.
/// </summary>
public sealed partial class MeteringShardsStartup(IGrainFactory grains, IOptions<MeteringOptions> options, ILogger<MeteringShardsStartup> logger)
    : ILifecycleParticipant<ISiloLifecycle>
{
    private const int Parallelism = 8;

    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(MeteringShardsStartup), ServiceLifecycleStage.Active, OnActive, _ => Task.CompletedTask);

    private Task OnActive(CancellationToken cancellationToken)
    {
        if (options.Value.Mode == MeteringMode.Shards) _ = EnsureAllAsync();
        return Task.CompletedTask;
    }

    private async Task EnsureAllAsync()
    {
        int failed = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, options.Value.Shards), new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (shard, _) =>
        {
            try
            {
                await grains.GetGrain<IMeteringShardGrain>(shard).Ensure();
            }
            catch (Exception e)
            {
                if (Interlocked.Increment(ref failed) == 1) LogFailed(logger, e, shard);
            }
        });
        LogEnsured(logger, options.Value.Shards, failed);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Metering shard {Shard}: its reminder could not be ensured at silo start; the next start of one of its sessions does it")]
    private static partial void LogFailed(ILogger logger, Exception exception, int shard);

    [LoggerMessage(Level = LogLevel.Information, Message = "Metering shards: {Shards} reminders ensured at silo start ({Failed} failed)")]
    private static partial void LogEnsured(ILogger logger, int shards, int failed);
}
