using System.Diagnostics;

namespace Qubrid.Bench;

/// <summary>One failover scenario: how many sessions, their interval, the metering mode (reminders or shards).</summary>
public sealed record MeteringFailoverScenario(int Sessions, TimeSpan Interval, MeteringMode Mode, int Wallets);

/// <summary>What a failover scenario measured.</summary>
public sealed record MeteringFailoverResult(
    MeteringFailoverScenario Scenario,
    double StartSeconds,
    double ResumeSeconds,
    long Running,
    long Uncharged,
    long DriftChecked,
    long Mismatched,
    long DriftMicros)
{
    public double ResumeIntervals => ResumeSeconds / Scenario.Interval.TotalSeconds;
}

/// <summary>
/// Two real silo processes meter the sessions; once every session has been charged, one silo is killed with SIGKILL (no goodbye,
/// as a crashed machine). Measures how long until every running session has been charged again after the kill, then checks every
/// session in SQL: its ledger entries = its charged = round_down(rate × (charged through − started)).
/// </summary>
public static class MeteringFailoverBench
{
    private const string InstanceType = "T4";
    private const int StartConcurrency = 256; // two silo processes share the server's 400 connections with the bench

    public static async Task<MeteringFailoverResult> RunAsync(MeteringFailoverScenario scenario)
    {
        var interval = scenario.Interval;
        Console.WriteLine($"== metering failover: {scenario.Sessions:N0} sessions at {interval.TotalSeconds:0} s ({scenario.Mode}) on 2 silo processes, then kill -9 of silo 2");
        var cs = await Databases.CreateAsync($"failover_{scenario.Mode}_{scenario.Sessions}");
        var logs = Directory.CreateTempSubdirectory("qubrid-bench-failover-");
        var settings = new Dictionary<string, string>
        {
            ["Qubrid__Metering__ChargeInterval"] = interval.ToString("c"),
            ["Qubrid__Metering__Mode"] = scenario.Mode.ToString(),
            // As the fault test: a dead silo is declared within about 2 s.
            ["Qubrid__Membership__ProbeTimeout"] = "00:00:01",
            ["Qubrid__Membership__NumMissedProbesLimit"] = "2",
        };
        try
        {
            await using var cluster = await SiloCluster.StartAsync(ScalingBench.SiloDll(), cs, 2, logs.FullName, settings);
            var wallets = Enumerable.Range(0, scenario.Wallets).Select(i => $"fw{i}").ToList();
            await SystemHost.FundAsync(cluster.Client, wallets);

            var started = Stopwatch.StartNew();
            int failures = 0;
            await Parallel.ForEachAsync(Enumerable.Range(0, scenario.Sessions), new ParallelOptions { MaxDegreeOfParallelism = StartConcurrency }, async (i, _) =>
            {
                var result = await cluster.Client.GetGrain<ISessionGrain>($"fs{i}").Start(new StartSessionRequest(wallets[i % wallets.Count], InstanceType));
                if (!result.Succeeded && Interlocked.Increment(ref failures) <= 3) Console.Error.WriteLine($"  start fs{i}: {result.Detail}");
            });
            double startSeconds = started.Elapsed.TotalSeconds;
            if (failures > 0) throw new InvalidOperationException($"{failures} sessions did not start.");
            Console.WriteLine($"  started {scenario.Sessions:N0} sessions in {startSeconds:0.0} s ({scenario.Sessions / startSeconds:N0}/s)");

            // Every session charged once after the last start: the metering is in its steady state on both silos.
            var allStarted = DateTime.UtcNow;
            var steady = await MeteringBench.WaitForResumeAsync(cs, allStarted, Stopwatch.StartNew(), 2 * interval + TimeSpan.FromSeconds(30));
            if (steady.Uncharged > 0) throw new InvalidOperationException($"{steady.Uncharged:N0} of {steady.Running:N0} sessions were not charged within 2 intervals of starting.");
            Console.WriteLine($"  every session charged after the starts ({steady.Seconds:0.0} s)");

            var killedAt = DateTime.UtcNow;
            var sinceKill = Stopwatch.StartNew();
            cluster.KillSilo(2);
            Console.WriteLine("  silo 2 killed (SIGKILL)");
            var resume = await MeteringBench.WaitForResumeAsync(cs, killedAt, sinceKill, 3 * interval + TimeSpan.FromSeconds(30));
            Console.WriteLine($"  {(resume.Uncharged == 0 ? "every" : $"{resume.Running - resume.Uncharged:N0} of {resume.Running:N0}")} running session charged again " +
                              $"{resume.Seconds:0.0} s after the kill ({resume.Seconds / interval.TotalSeconds:0.00} intervals)");

            var drift = await MeteringBench.CheckRunningDriftAsync(cs, scenario.Sessions);
            Console.WriteLine($"  drift: {drift.Checked:N0} sessions checked, {drift.Mismatched} mismatched, {drift.DriftMicros} micro-USD");
            return new MeteringFailoverResult(scenario, startSeconds, resume.Seconds, resume.Running, resume.Uncharged, drift.Checked, drift.Mismatched, drift.DriftMicros);
        }
        finally
        {
            logs.Delete(recursive: true);
        }
    }
}
