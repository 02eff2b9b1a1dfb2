using System.Diagnostics;
using Npgsql;
using Qubrid.Core;

namespace Qubrid.Bench;

/// <summary>What one metering scenario measured.</summary>
public sealed record MeteringResult(
    int Sessions,
    double IntervalSeconds,
    double StartSeconds,
    double StartsPerSecond,
    double WindowSeconds,
    long Ticks,
    double TickLagP50Ms,
    double TickLagP99Ms,
    double TickLagMaxMs,
    double AllTickLagP99Ms,
    double ChargesPerSecond,
    double ExpectedChargesPerSecond,
    double BytesPerSession,
    double CpuCores,
    double PostgresCores,
    double MachineCores,
    double StopSeconds,
    long SessionsChecked,
    long SessionsMismatched,
    long DriftMicros,
    long GrainViewsChecked,
    double CommitP50Ms,
    double CommitP99Ms,
    double MeanBatch,
    IReadOnlyList<PgStatement> StartProfile,
    IReadOnlyList<PgStatement> WindowProfile,
    IReadOnlyList<PgStatement> StopProfile,
    double WalSyncsPerSecond,
    double WalSyncMeanMs,
    double WalBytesPerSecond = 0,
    double StartCpuCores = 0,
    double StartPostgresCores = 0,
    MeteringMode Mode = MeteringMode.SessionReminders,
    long DriftCheckedRunning = 0,
    double RestartStartSeconds = -1,
    double ResumeSeconds = -1,
    long RunningAtRestart = 0,
    long UnchargedAfterResume = -1,
    double DriftCheckSeconds = 0)
{
    /// <summary>WAL written per committed charge in the steady window (pg_stat_wal.wal_bytes; full-page images included).</summary>
    public double WalBytesPerCharge => ChargesPerSecond > 0 ? WalBytesPerSecond / ChargesPerSecond : 0;

    public double OtherCores => Math.Max(0, MachineCores - CpuCores - PostgresCores);
}

/// <summary>
/// Many concurrent sessions on one silo, charged by their reminders (a reminder per session, or a metering shard per bucket
/// of wallets: the scenario's mode). Measures tick lag and committed charges while they run, memory per session and CPU;
/// proves zero drift against the ledger while they run (in SQL, every session); optionally restarts the silo on the same
/// database and measures how soon every running session is charged again; optionally stops them all and checks again.
/// </summary>
public static class MeteringBench
{
    private const string InstanceType = "T4";

    /// <summary>Starts in flight at once (QUBRID_BENCH_START_CONCURRENCY, default 1024).</summary>
    private static readonly int Concurrency =
        int.TryParse(Environment.GetEnvironmentVariable("QUBRID_BENCH_START_CONCURRENCY"), out var c) && c > 0 ? c : 1024;

    /// <summary>Metering shards in Shards mode (QUBRID_BENCH_SHARDS, default 64).</summary>
    private static readonly int Shards = int.TryParse(Environment.GetEnvironmentVariable("QUBRID_BENCH_SHARDS"), out var n) && n > 0 ? n : 64;

    public static async Task<MeteringResult> RunAsync(MeteringScenario scenario, BillingListener listener)
    {
        string mode = scenario.Mode == MeteringMode.Shards ? "shards" : "reminders";
        string name = $"metering_{mode}_{scenario.Sessions}_{(int)scenario.Interval.TotalSeconds}s";
        Console.WriteLine($"== metering ({scenario.Mode}{(scenario.Mode == MeteringMode.Shards ? $", {Shards} shards" : "")}): " +
            $"{scenario.Sessions:N0} sessions at {scenario.Interval.TotalSeconds:0} s ({scenario.Wallets:N0} wallets, {Concurrency} starts in flight)");
        var cs = await Databases.CreateAsync(name);
        var phase = Stopwatch.StartNew();
        var siloSettings = new Dictionary<string, string?>
        {
            ["Qubrid:Metering:ChargeInterval"] = scenario.Interval.ToString("c"),
            ["Qubrid:Metering:Mode"] = scenario.Mode.ToString(),
            ["Qubrid:Metering:Shards"] = Shards.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var host = await SystemHost.StartAsync(cs, siloSettings);
        try
        {
            return await RunOnAsync(scenario, listener, cs, siloSettings, phase, h => host = h, () => host);
        }
        finally
        {
            await host.DisposeAsync();
        }
    }

    private static async Task<MeteringResult> RunOnAsync(MeteringScenario scenario, BillingListener listener, string cs,
        Dictionary<string, string?> siloSettings, Stopwatch phase, Action<SystemHost> replaceHost, Func<SystemHost> currentHost)
    {
        var host = currentHost();
        var wallets = Enumerable.Range(0, scenario.Wallets).Select(i => $"mw{i}").ToList();
        await host.FundAsync(wallets);
        var sessions = Enumerable.Range(0, scenario.Sessions).Select(i => (Id: $"s{i}", Wallet: wallets[i % wallets.Count])).ToList();

        long before = FullGcHeapBytes();
        var allLag = new LatencyHistogram();
        listener.Reset();
        await PgProfile.ResetAsync();
        var startCpu = CpuMeter.Start();
        var started = Stopwatch.StartNew();
        int failures = 0, done = 0;
        using (var progress = new Timer(_ => Console.WriteLine($"  … {Volatile.Read(ref done):N0} started after {started.Elapsed.TotalSeconds:0} s"),
                   null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)))
        {
            await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (s, _) =>
            {
                var result = await host.Client.GetGrain<ISessionGrain>(s.Id).Start(new StartSessionRequest(s.Wallet, InstanceType));
                if (!result.Succeeded && Interlocked.Increment(ref failures) <= 3) Console.Error.WriteLine($"  start {s.Id}: {result.Detail}");
                Interlocked.Increment(ref done);
            });
        }
        double startSeconds = started.Elapsed.TotalSeconds;
        double startCores = startCpu.CoresBusy(), startPostgres = startCpu.PostgresCoresBusy();
        var startProfile = await PgProfile.TopAsync();
        if (failures > 0) throw new InvalidOperationException($"{failures} sessions did not start.");
        Console.WriteLine($"  started {scenario.Sessions:N0} sessions in {startSeconds:0.0} s ({scenario.Sessions / startSeconds:N0}/s, cpu {startCores:0.00}+{startPostgres:0.00} cores); {listener.Ticks:N0} ticks meanwhile");
        long after = FullGcHeapBytes();
        double bytesPerSession = (double)(after - before) / scenario.Sessions;
        await Task.Delay(TimeSpan.FromSeconds(2)); // let the ticks held up by that forced full GC fire before the window opens

        // The steady window: every session running, nothing else going on.
        AddTo(allLag, listener.TickLagMicros);
        listener.Reset();
        await PgProfile.ResetAsync();
        await PgProfile.ResetWalAsync();
        var cpu = CpuMeter.Start();
        var window = Stopwatch.StartNew();
        await Task.Delay(scenario.RunFor);
        double windowSeconds = window.Elapsed.TotalSeconds;
        double cores = cpu.CoresBusy(), postgres = cpu.PostgresCoresBusy(), machine = cpu.MachineCoresBusy();
        long ticks = listener.Ticks, charges = listener.Charges;
        var lag = Snapshot(listener.TickLagMicros);
        var commit = listener.CommitStats();
        var windowProfile = await PgProfile.TopAsync();
        var wal = await PgProfile.WalSyncsAsync();
        AddTo(allLag, listener.TickLagMicros);
        Console.WriteLine($"  [{scenario.Mode}] window {windowSeconds:0.0} s: {ticks:N0} ticks, {charges / windowSeconds:N0} charges/s, tick lag p50 {lag.P50:0.0} ms p99 {lag.P99:0.0} ms max {lag.Max:0.0} ms, " +
            $"cpu {cores:0.00}+{postgres:0.00}/{machine:0.00} cores, {bytesPerSession:N0} B/session, commit p50/p99 {commit.CommitP50Ms:0.00}/{commit.CommitP99Ms:0.00} ms, batch {commit.MeanBatch:0.0}, fsync {wal.Syncs / windowSeconds:N0}/s × {(wal.Syncs == 0 ? 0 : wal.SyncMs / wal.Syncs):0.00} ms, " +
            $"WAL {(charges == 0 ? 0 : wal.Bytes / charges):N0} B/charge");

        // Drift while they run, in one snapshot: every session's ledger entries sum to its charged, which is the formula up to
        // the instant it was charged through (or stopped at).
        var driftClock = Stopwatch.StartNew();
        var running = await CheckRunningDriftAsync(cs, scenario.Sessions);
        double driftSeconds = driftClock.Elapsed.TotalSeconds;
        Console.WriteLine($"  drift while running: {running.Checked:N0} sessions checked, {running.Mismatched} mismatched, {running.DriftMicros} micro-USD ({driftSeconds:0.0} s)");

        double restartStartSeconds = -1, resumeSeconds = -1;
        long runningAtRestart = 0, uncharged = -1;
        if (scenario.Restart)
        {
            var disposing = Stopwatch.StartNew();
            await host.DisposeAsync();
            Console.WriteLine($"  silo stopped in {disposing.Elapsed.TotalSeconds:0.0} s; starting a new one on the same database");
            var restartAt = DateTime.UtcNow; // the silos' billing clock is the real clock: a charge after this is the new silo's
            var resuming = Stopwatch.StartNew();
            host = await SystemHost.StartAsync(cs, siloSettings);
            replaceHost(host);
            restartStartSeconds = resuming.Elapsed.TotalSeconds;
            (resumeSeconds, runningAtRestart, uncharged) = await WaitForResumeAsync(cs, restartAt, resuming, scenario.Interval * 3);
            Console.WriteLine($"  restart: silo up in {restartStartSeconds:0.0} s; every one of {runningAtRestart:N0} running sessions charged again after " +
                (uncharged == 0 ? $"{resumeSeconds:0.0} s" : $"— not within {resuming.Elapsed.TotalSeconds:0} s: {uncharged:N0} still uncharged") +
                $" (2 intervals = {2 * scenario.Interval.TotalSeconds:0} s)");
            var afterRestart = await CheckRunningDriftAsync(cs, scenario.Sessions);
            Console.WriteLine($"  drift after the restart: {afterRestart.Checked:N0} sessions checked, {afterRestart.Mismatched} mismatched, {afterRestart.DriftMicros} micro-USD");
            running = (afterRestart.Checked, running.Mismatched + afterRestart.Mismatched, running.DriftMicros + afterRestart.DriftMicros);
        }

        if (!scenario.StopAll)
        {
            Console.WriteLine($"  scenario took {phase.Elapsed.TotalSeconds:0} s");
            return new MeteringResult(scenario.Sessions, scenario.Interval.TotalSeconds, startSeconds, scenario.Sessions / startSeconds,
                windowSeconds, ticks, lag.P50, lag.P99, lag.Max, allLag.Quantile(0.99) / 1000, charges / windowSeconds,
                scenario.Sessions / scenario.Interval.TotalSeconds, bytesPerSession, cores, postgres, machine, 0,
                running.Checked, running.Mismatched, running.DriftMicros, 0, commit.CommitP50Ms, commit.CommitP99Ms, commit.MeanBatch,
                startProfile, windowProfile, [], wal.Syncs / windowSeconds, wal.Syncs == 0 ? 0 : wal.SyncMs / wal.Syncs,
                wal.Bytes / windowSeconds, startCores, startPostgres,
                scenario.Mode, running.Checked, restartStartSeconds, resumeSeconds, runningAtRestart, uncharged, driftSeconds);
        }

        await PgProfile.ResetAsync();
        var stopping = Stopwatch.StartNew();
        failures = 0;
        await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = Concurrency }, async (s, _) =>
        {
            var result = await host.Client.GetGrain<ISessionGrain>(s.Id).Stop();
            if (!result.Succeeded && Interlocked.Increment(ref failures) <= 3) Console.Error.WriteLine($"  stop {s.Id}: {result.Detail}");
        });
        double stopSeconds = stopping.Elapsed.TotalSeconds;
        var stopProfile = await PgProfile.TopAsync();
        if (failures > 0) throw new InvalidOperationException($"{failures} sessions did not stop.");
        Console.WriteLine($"  stopped them in {stopSeconds:0.0} s");

        var drift = await CheckDriftAsync(cs, scenario.Sessions);
        int viewsChecked = await CheckGrainViewsAsync(host, cs, Math.Min(1_000, scenario.Sessions));
        Console.WriteLine($"  drift: {drift.Checked:N0} sessions checked, {drift.Mismatched} mismatched, total drift {drift.DriftMicros} micro-USD; {viewsChecked} grain views match");

        Console.WriteLine($"  scenario took {phase.Elapsed.TotalSeconds:0} s");
        return new MeteringResult(scenario.Sessions, scenario.Interval.TotalSeconds, startSeconds, scenario.Sessions / startSeconds,
            windowSeconds, ticks, lag.P50, lag.P99, lag.Max, allLag.Quantile(0.99) / 1000, charges / windowSeconds,
            scenario.Sessions / scenario.Interval.TotalSeconds, bytesPerSession, cores, postgres, machine, stopSeconds,
            drift.Checked, drift.Mismatched, drift.DriftMicros, viewsChecked, commit.CommitP50Ms, commit.CommitP99Ms, commit.MeanBatch,
            startProfile, windowProfile, stopProfile, wal.Syncs / windowSeconds, wal.Syncs == 0 ? 0 : wal.SyncMs / wal.Syncs,
            wal.Bytes / windowSeconds, startCores, startPostgres,
            scenario.Mode, running.Checked, restartStartSeconds, resumeSeconds, runningAtRestart, uncharged, driftSeconds);
    }

    /// <summary>
    /// Polls (every 2 s) until every running session has been charged through an instant after <paramref name="restartAt"/>;
    /// returns the seconds since <paramref name="since"/> started, the sessions running, and how many were still uncharged (0: all).
    /// </summary>
    internal static async Task<(double Seconds, long Running, long Uncharged)> WaitForResumeAsync(string cs, DateTime restartAt, Stopwatch since, TimeSpan limit)
    {
        await using var db = NpgsqlDataSource.Create(cs);
        while (true)
        {
            await using var cmd = db.CreateCommand(
                "SELECT count(*), count(*) FILTER (WHERE charged_through IS NULL OR charged_through <= $1) FROM qubrid_wallet_sessions WHERE state = 'running'");
            cmd.Parameters.Add(new NpgsqlParameter { Value = restartAt });
            long runningNow, unchargedNow;
            await using (var reader = await cmd.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                (runningNow, unchargedNow) = (reader.GetInt64(0), reader.GetInt64(1));
            }
            if (unchargedNow == 0 || since.Elapsed > limit) return (since.Elapsed.TotalSeconds, runningNow, unchargedNow);
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
    }

    private static (double P50, double P99, double Max) Snapshot(LatencyHistogram h) =>
        (h.Quantile(0.5) / 1000, h.Quantile(0.99) / 1000, h.Quantile(1.0) / 1000);

    private static void AddTo(LatencyHistogram total, LatencyHistogram part) => total.Add(part);

    private static long FullGcHeapBytes()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>
    /// While sessions run, for every session the wallet recorded (one snapshot): its session_charge entries sum to its charged, and
    /// charged = round_down(rate × (charged_through − startedAt)) (stoppedAt for an ended one; 0 when never charged).
    /// </summary>
    internal static Task<(long Checked, long Mismatched, long DriftMicros)> CheckRunningDriftAsync(string cs, int expectedSessions) =>
        CheckSessionsAsync(cs, expectedSessions, afterStop: false);

    /// <summary>
    /// For every session the wallet recorded: it stopped, charged = round_down(rate × (stoppedAt − startedAt)),
    /// and its session_charge ledger entries sum to exactly that. Drift is the sum of both differences.
    /// </summary>
    private static Task<(long Checked, long Mismatched, long DriftMicros)> CheckDriftAsync(string cs, int expectedSessions) =>
        CheckSessionsAsync(cs, expectedSessions, afterStop: true);

    /// <summary>
    /// Every session the wallet recorded, against the formula up to where it was charged (its stop once all were stopped) and
    /// against its ledger entries. A terminated session is a mismatch either way (every wallet was funded), and so is a
    /// session not stopped after the stop.
    /// </summary>
    private static async Task<(long Checked, long Mismatched, long DriftMicros)> CheckSessionsAsync(string cs, int expectedSessions, bool afterStop)
    {
        await using var db = NpgsqlDataSource.Create(cs);
        await using var cmd = db.CreateCommand(
            $"""
            SELECT s.session_id, s.usd_per_hour, s.started_at, {(afterStop ? "s.stopped_at" : "coalesce(s.stopped_at, s.charged_through)")},
                   s.state, s.charged, coalesce(l.taken, 0)
            FROM qubrid_wallet_sessions s
            LEFT JOIN (SELECT wallet_id, session_id, -sum(amount) AS taken FROM qubrid_ledger
                       WHERE kind = 'session_charge' GROUP BY wallet_id, session_id) l
              ON l.wallet_id = s.wallet_id AND l.session_id = s.session_id
            """);
        cmd.CommandTimeout = 600;
        await using var reader = await cmd.ExecuteReaderAsync();
        long count = 0, mismatched = 0, drift = 0;
        while (await reader.ReadAsync())
        {
            count++;
            decimal rate = reader.GetDecimal(1);
            var startedAt = new DateTimeOffset(reader.GetDateTime(2), TimeSpan.Zero);
            DateTimeOffset? through = reader.IsDBNull(3) ? null : new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero);
            string state = reader.GetString(4);
            long charged = reader.GetInt64(5), taken = reader.GetInt64(6);
            // Never charged: owes nothing while running; after the stop every session must have a stop to be owed against.
            long? owed = through is { } t ? Metering.Owed(rate, startedAt, t).Value : afterStop ? null : 0;
            long d = (owed is { } o ? Math.Abs(charged - o) : 0) + Math.Abs(taken - charged);
            bool wrongState = afterStop ? state != "stopped" : state == "terminated";
            if (wrongState || owed is null || d != 0)
            {
                mismatched++;
                drift += d;
                if (mismatched <= 3) Console.Error.WriteLine($"  drift in {reader.GetString(0)}: state {state}, charged {charged}, owed {owed?.ToString() ?? "-"}, ledger {taken}");
            }
        }
        if (count != expectedSessions) mismatched += Math.Abs(expectedSessions - count);
        return (count, mismatched, drift);
    }

    /// <summary>The session grains' own views (ISessionGrain.Get) agree with the wallet's record, for a sample.</summary>
    private static async Task<int> CheckGrainViewsAsync(SystemHost host, string cs, int sample)
    {
        await using var db = NpgsqlDataSource.Create(cs);
        await using var cmd = db.CreateCommand("SELECT session_id, charged, stopped_at FROM qubrid_wallet_sessions ORDER BY session_id LIMIT $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = sample });
        var rows = new List<(string Id, long Charged, DateTime StoppedAt)>();
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync()) rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetDateTime(2)));
        }
        int ok = 0;
        foreach (var row in rows)
        {
            var view = await host.Client.GetGrain<ISessionGrain>(row.Id).Get();
            if (view is { State: SessionState.Stopped } v && v.Charged.Value == row.Charged && v.StoppedAt?.UtcDateTime == row.StoppedAt) ok++;
            else Console.Error.WriteLine($"  session {row.Id}: grain view {view} differs from the wallet's record");
        }
        return ok;
    }
}
