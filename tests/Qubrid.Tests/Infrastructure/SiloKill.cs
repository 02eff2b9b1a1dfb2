using Orleans.TestingHost;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// A silo killed while calls are in flight, and the moment the cluster has healed: every remaining silo and the
/// client see the new membership (<see cref="InProcessTestCluster.WaitForLivenessToStabilizeAsync"/>). A call the kill
/// failed is retried once the cluster has healed, on that signal and not on a timer; a call started after it must succeed.
/// </summary>
public sealed class SiloKill
{
    private readonly TaskCompletionSource _healed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _retried;

    /// <summary>Completes once the cluster has healed after the kill (faults if the kill or the wait failed).</summary>
    public Task Healed => _healed.Task;

    /// <summary>How many calls the kill failed (each was run again once).</summary>
    public int Retried => Volatile.Read(ref _retried);

    /// <summary>From the kill to the healed cluster (for the test's output).</summary>
    public TimeSpan HealingTime { get; private set; }

    /// <summary>Kills the silo (no graceful leave) and waits until the membership has settled without it.</summary>
    public async Task KillAsync(InProcessTestCluster cluster, InProcessSiloHandle victim)
    {
        try
        {
            long started = System.Diagnostics.Stopwatch.GetTimestamp();
            await cluster.KillSiloAsync(victim);
            await cluster.WaitForLivenessToStabilizeAsync(didKill: true);
            HealingTime = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            _healed.SetResult();
        }
        catch (Exception e)
        {
            _healed.TrySetException(e);
            throw;
        }
    }

    /// <summary>
    /// Runs the call; if it fails before the cluster has healed, runs it again once it has (bounded by
    /// <paramref name="patience"/>, for a kill that never comes). A call started after healing is not retried.
    /// </summary>
    public async Task<T> RetryAcrossAsync<T>(Func<Task<T>> call, TimeSpan patience)
    {
        while (true)
        {
            bool startedHealed = Healed.IsCompleted;
            try
            {
                return await call();
            }
            catch (Exception) when (!startedHealed)
            {
                Interlocked.Increment(ref _retried);
                await Healed.WaitAsync(patience);
            }
        }
    }
}
