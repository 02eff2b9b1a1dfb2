using System.Diagnostics;
using Xunit.Abstractions;

namespace Qubrid.Tests.Simulation;

/// <summary>
/// The lifecycle simulation over many seeds. QUBRID_SIM_SEEDS (default 400) and QUBRID_SIM_STEPS (default 40) size
/// the run, QUBRID_SIM_FIRST_SEED moves the window (a soak: scripts/sim-soak.sh); QUBRID_SIM_SEED replays one seed.
/// </summary>
[Trait("Category", "Simulation")]
public class LifecycleSimulationTests(ITestOutputHelper output)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var v) ? v : fallback;

    [Fact]
    public async Task Random_orchestrators_under_faults_never_break_the_metering_invariants()
    {
        int steps = Setting("QUBRID_SIM_STEPS", 40);
        int first = Setting("QUBRID_SIM_FIRST_SEED", 1);
        int count = Setting("QUBRID_SIM_SEEDS", 400);
        if (Setting("QUBRID_SIM_SEED", 0) is var only and > 0) (first, count) = (only, 1);

        await using var sim = await SimCluster.StartAsync();
        var failures = new List<SimulationFailure>();
        var clock = Stopwatch.StartNew();
        int kills = 0, ran = 0;
        for (int seed = first; seed < first + count && failures.Count < 5; seed++)
        {
            var run = new LifecycleSimulation(sim, seed, steps, allowSiloKill: seed % 100 == 0);
            try
            {
                await run.RunAsync();
            }
            catch (SimulationFailure failure)
            {
                failures.Add(failure);
            }
            ran++;
            kills += run.SiloKills;
        }
        output.WriteLine($"simulation: {ran} seeds from {first}, {steps} steps each ({ran * steps} steps), {kills} silo kills, {failures.Count} failing, {clock.Elapsed.TotalSeconds:0.0} s");
        Console.WriteLine($"simulation: {ran} seeds from {first}, {steps} steps each ({ran * steps} steps), {kills} silo kills, {failures.Count} failing, {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures.Select(f => f.Message)));
    }
}
