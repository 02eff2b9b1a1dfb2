using System.Diagnostics;

namespace Qubrid.Bench;

/// <summary>One closed-loop run: N callers, each issuing its next debit when the previous one is answered.</summary>
public sealed record RunResult(
    string Target,
    string Workload,
    int Callers,
    double DebitsPerSecond,
    double P50Ms,
    double P99Ms,
    long Measured,
    long Failed,
    double CpuCores,
    double PostgresCores,
    double MachineCores,
    double MeanBatch = 0,
    double CommitP50Ms = 0,
    double CommitP99Ms = 0,
    IReadOnlyList<PgStatement>? Profile = null,
    double WalSyncsPerSecond = 0,
    double WalSyncMeanMs = 0,
    double MeanWallets = 0,
    double TransactionP50Ms = 0,
    double WalBytesPerSecond = 0,
    double SiloCores = 0,
    double WalFullPageImagesPerSecond = 0,
    double DecideP50Ms = 0,
    double WriterWaitP50Ms = 0)
{
    /// <summary>Full-page images (a page's first change after a checkpoint) per debit: the part of the WAL a longer run amortizes.</summary>
    public double WalFullPageImagesPerDebit => DebitsPerSecond > 0 ? WalFullPageImagesPerSecond / DebitsPerSecond : 0;

    /// <summary>WAL the server wrote per debit acknowledged in the window (pg_stat_wal.wal_bytes; full-page images included).</summary>
    public double WalBytesPerDebit => DebitsPerSecond > 0 ? WalBytesPerSecond / DebitsPerSecond : 0;

    /// <summary>CPU that neither this process, its silo processes nor the benchmark's PostgreSQL used: another program on the machine.</summary>
    public double OtherCores => Math.Max(0, MachineCores - CpuCores - SiloCores - PostgresCores);
}

/// <summary>
/// Drives a debit function from <c>callers</c> concurrent loops for a warm-up and then a fixed measuring
/// window. Only calls that start and end inside the window count; every call is bounded by the window.
/// </summary>
public static class LoadRunner
{
    /// <summary>A debit: returns true when it was applied. <c>caller</c> and <c>seq</c> make keys unique.</summary>
    public delegate Task<bool> Debit(int caller, long seq);

    private const int Warmup = 0, Measuring = 1, Stopped = 2;

    public static async Task<RunResult> RunAsync(string target, string workload, int callers, BenchSettings settings, Debit debit,
        Func<CommitStats>? commitStats = null, Func<Task>? onMeasureStart = null,
        TimeSpan? warmup = null, bool profile = false, IReadOnlyList<int>? silos = null)
    {
        int phase = Warmup;
        long applied = 0, failed = 0;
        var histograms = new LatencyHistogram[callers];
        var counts = new long[callers];
        var failures = new long[callers];

        async Task Loop(int caller)
        {
            await Task.Yield();
            var hist = histograms[caller] = new LatencyHistogram();
            long seq = 0;
            while (Volatile.Read(ref phase) != Stopped)
            {
                int startedIn = Volatile.Read(ref phase);
                long t0 = Stopwatch.GetTimestamp();
                bool ok;
                try
                {
                    ok = await debit(caller, seq++);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    ok = false;
                    if (Interlocked.Increment(ref failed) <= 3) Console.Error.WriteLine($"  {target}/{workload}/{callers}: {e.GetType().Name}: {e.Message}");
                }
                if (ok) Interlocked.Increment(ref applied);
                if (startedIn == Measuring && Volatile.Read(ref phase) == Measuring)
                {
                    if (ok)
                    {
                        hist.Record((long)Stopwatch.GetElapsedTime(t0).TotalMicroseconds);
                        counts[caller]++;
                    }
                    else
                    {
                        failures[caller]++;
                    }
                }
            }
        }

        var loops = Enumerable.Range(0, callers).Select(Loop).ToArray();
        await Task.Delay(warmup ?? settings.Warmup);
        if (onMeasureStart is not null) await onMeasureStart();
        if (profile) await PgProfile.ResetAsync();
        await PgProfile.ResetWalAsync();
        var cpu = CpuMeter.Start(silos);
        long started = Stopwatch.GetTimestamp();
        Volatile.Write(ref phase, Measuring);
        await Task.Delay(settings.Measure);
        Volatile.Write(ref phase, Stopped);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        double cores = cpu.CoresBusy();
        double machine = cpu.MachineCoresBusy();
        double postgres = cpu.PostgresCoresBusy();
        double siloCores = cpu.ProcessesCoresBusy();
        var stats = commitStats?.Invoke() ?? default;
        var pgTop = profile ? await PgProfile.TopAsync() : null;
        var wal = await PgProfile.WalSyncsAsync();
        await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(60));

        var all = new LatencyHistogram();
        foreach (var h in histograms) all.Add(h);
        long measured = counts.Sum();
        var result = new RunResult(target, workload, callers, measured / seconds, all.Quantile(0.50) / 1000, all.Quantile(0.99) / 1000,
            measured, failures.Sum(), cores, postgres, machine, stats.MeanBatch, stats.CommitP50Ms, stats.CommitP99Ms, pgTop,
            wal.Syncs / seconds, wal.Syncs == 0 ? 0 : wal.SyncMs / wal.Syncs, stats.MeanWallets, stats.TransactionP50Ms,
            wal.Bytes / seconds, siloCores, wal.FullPageImages / seconds, stats.DecideP50Ms, stats.WriterWaitP50Ms);
        Totals.Add(target, Interlocked.Read(ref applied));
        Console.WriteLine($"  {target,-22} {workload,-12} {callers,4} callers: {result.DebitsPerSecond,12:N0} debits/s  p50 {result.P50Ms,7:0.00} ms  p99 {result.P99Ms,7:0.00} ms" +
            $"  cpu {cores:0.00}+{(silos is null ? "" : $"{siloCores:0.00} silos+")}{postgres:0.00}/{machine:0.00}{(result.MeanBatch > 0 ? $"  batch {result.MeanBatch:0.0} × {result.MeanWallets:0.0} wallets  commit p50/p99 {result.CommitP50Ms:0.00}/{result.CommitP99Ms:0.00} ms  txn p50 {result.TransactionP50Ms:0.00} ms  decide/writer wait p50 {result.DecideP50Ms:0.000}/{result.WriterWaitP50Ms:0.000} ms" : "")}" +
            $"  fsync {result.WalSyncsPerSecond:N0}/s × {result.WalSyncMeanMs:0.00} ms  WAL {result.WalBytesPerDebit:N0} B/debit ({result.WalFullPageImagesPerDebit:0.00} FPI)" +
            $"{(result.Failed > 0 ? $"  FAILED {result.Failed}" : "")}");
        return result;
    }

    /// <summary>Every debit acknowledged as applied, per target (warm-up included), to check against the ledger afterwards.</summary>
    public static class Totals
    {
        private static readonly Dictionary<string, long> ByTarget = [];

        public static void Add(string target, long applied)
        {
            lock (ByTarget) ByTarget[target] = ByTarget.GetValueOrDefault(target) + applied;
        }

        public static long Of(string target)
        {
            lock (ByTarget) return ByTarget.GetValueOrDefault(target);
        }
    }
}

/// <summary>
/// CPU over a window, in cores busy: this process (load generator, silo, API), the benchmark's PostgreSQL
/// (its postmaster and backends, from /proc), given processes of ours (silos started as separate processes),
/// and the whole machine, so that anything else running shows.
/// </summary>
public sealed class CpuMeter
{
    private static readonly int PostgresPid = int.TryParse(Environment.GetEnvironmentVariable("QUBRID_BENCH_PG_PID"), out var pid) ? pid : 0;
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    private readonly TimeSpan _cpu0;
    private readonly long _t0;
    private readonly long _pg0;
    private readonly (long Busy, long Total) _machine0;
    private readonly IReadOnlyList<int> _pids;
    private readonly long _pids0;

    private CpuMeter(IReadOnlyList<int>? pids)
    {
        _pids = pids ?? [];
        _cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        _t0 = Stopwatch.GetTimestamp();
        _pg0 = PostgresTicks();
        _pids0 = ProcessTicks(_pids);
        _machine0 = MachineTicks();
    }

    public static CpuMeter Start(IReadOnlyList<int>? pids = null) => new(pids);

    private double Seconds => Stopwatch.GetElapsedTime(_t0).TotalSeconds;

    /// <summary>This process's CPU time ÷ wall time (2.0 = both cores of a 2-core machine).</summary>
    public double CoresBusy() => (Process.GetCurrentProcess().TotalProcessorTime - _cpu0).TotalSeconds / Seconds;

    /// <summary>The benchmark's PostgreSQL server, in cores busy (0 when its pid is unknown).</summary>
    public double PostgresCoresBusy() => PostgresPid == 0 ? 0 : Math.Max(0, PostgresTicks() - _pg0) / TicksPerSecond / Seconds;

    /// <summary>The processes given to <see cref="Start"/>, summed, in cores busy.</summary>
    public double ProcessesCoresBusy() => _pids.Count == 0 ? 0 : Math.Max(0, ProcessTicks(_pids) - _pids0) / TicksPerSecond / Seconds;

    /// <summary>utime + stime of the given processes (a process that ended meanwhile counts 0).</summary>
    private static long ProcessTicks(IReadOnlyList<int> pids)
    {
        long ticks = 0;
        foreach (int pid in pids)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11]) + long.Parse(fields[12]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // the process ended meanwhile
            }
        }
        return ticks;
    }

    /// <summary>The whole machine (this process, PostgreSQL, everything else), in cores busy.</summary>
    public double MachineCoresBusy()
    {
        var now = MachineTicks();
        long total = now.Total - _machine0.Total;
        return total <= 0 ? 0 : (double)(now.Busy - _machine0.Busy) / total * Environment.ProcessorCount;
    }

    private static (long Busy, long Total) MachineTicks()
    {
        try
        {
            var cpu = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(long.Parse).ToArray();
            long idle = cpu[3] + (cpu.Length > 4 ? cpu[4] : 0);
            long total = cpu.Take(8).Sum();
            return (total - idle, total);
        }
        catch (IOException)
        {
            return (0, 0);
        }
    }

    /// <summary>
    /// utime + stime of the postmaster and its live children (backends, WAL writer, checkpointer...), plus the
    /// postmaster's cutime + cstime: what its children that already exited used, so a closed connection's CPU stays counted.
    /// </summary>
    private static long PostgresTicks()
    {
        if (PostgresPid == 0) return 0;
        long ticks = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (pid == PostgresPid) ticks += long.Parse(fields[11]) + long.Parse(fields[12]) + long.Parse(fields[13]) + long.Parse(fields[14]);
                else if (int.Parse(fields[1]) == PostgresPid) ticks += long.Parse(fields[11]) + long.Parse(fields[12]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // the process ended meanwhile
            }
        }
        return ticks;
    }
}
