using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Qubrid.Tests.Simulation;

/// <summary>
/// The lifecycle simulation over many seeds, in independent lanes (each its own two-silo cluster and database) so
/// both cores work. QUBRID_SIM_SEEDS (default 2000 in the default metering mode, 1000 in Shards mode) and QUBRID_SIM_STEPS (default 20) size the run,
/// QUBRID_SIM_FIRST_SEED moves the window and QUBRID_SIM_LANES sets the lanes; QUBRID_SIM_SEED replays one seed.
/// The longer soak: scripts/sim-soak.sh.
/// </summary>
[Trait("Category", "Simulation")]
public class LifecycleSimulationTests(ITestOutputHelper output)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-LEDGER-2")]
    public async Task Random_orchestrators_under_faults_never_break_the_metering_invariants(MeteringMode mode)
    {
        int steps = Setting("QUBRID_SIM_STEPS", 20);
        int first = Setting("QUBRID_SIM_FIRST_SEED", 1);
        // The default mode gets the full budget; Shards mode half of it, so that the suite stays well inside its time.
        int count = Setting("QUBRID_SIM_SEEDS", mode == MeteringMode.SessionReminders ? 2000 : 1000);
        int lanes = Math.Max(1, Setting("QUBRID_SIM_LANES", 2));
        if (Setting("QUBRID_SIM_SEED", 0) is var only and > 0) (first, count, lanes) = (only, 1, 1);

        var failures = new ConcurrentBag<SimulationFailure>();
        int kills = 0, ran = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, lanes).Select(lane => Task.Run(async () =>
        {
            await using var sim = await SimCluster.StartAsync(mode);
            for (int seed = first + lane; seed < first + count && failures.Count < 5; seed += lanes)
            {
                var run = new LifecycleSimulation(sim, seed, steps, allowSiloKill: seed % 200 == 0);
                try
                {
                    await run.RunAsync();
                }
                catch (SimulationFailure failure)
                {
                    failures.Add(failure);
                }
                Interlocked.Increment(ref ran);
                Interlocked.Add(ref kills, run.SiloKills);
            }
        })));
        var summary = $"simulation ({mode}): {ran} seeds from {first}, {steps} steps each ({ran * steps} steps), {lanes} lanes, {kills} silo kills, " +
            $"{failures.Count} failing, {clock.Elapsed.TotalSeconds:0.0} s";
        output.WriteLine(summary);
        Console.WriteLine(summary);
        Assert.True(failures.IsEmpty, string.Join("\n\n", failures.OrderBy(f => f.Seed).Select(f => f.Message)));
    }
}
