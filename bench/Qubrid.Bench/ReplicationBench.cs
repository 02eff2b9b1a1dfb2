using System.Globalization;
using System.Text;
using Npgsql;

namespace Qubrid.Bench;

/// <summary>
/// Debits/s with synchronous replication vs without, in the same run: <c>scripts/bench.sh replication</c> starts the
/// benchmark PostgreSQL with a streaming standby (QUBRID_BENCH_PG_STANDBY=1); the wallet grains then run the same
/// workloads with <c>synchronous_standby_names = '*'</c> (a commit waits for the standby's flush) and <c>''</c> (the
/// standby still streams, nobody waits for it), switched by a configuration reload, in the order async, sync, sync,
/// async so that a drift of the machine falls on both sides. Writes its section of docs/benchmarks.md (kept by the
/// full report).
/// </summary>
public static class ReplicationBench
{
    public const string SectionStart = "<!-- replication: written by `scripts/bench.sh replication` -->";
    public const string SectionEnd = "<!-- /replication -->";
    private static readonly int[] Callers = [1, 32];
    private static readonly int[] HaCallers = [32];
    public const string HaVariable = "QUBRID_BENCH_PG_HA";
    private const string HaTarget = "--ha (Patroni)";
    private const string SingleTarget = "one PostgreSQL";

    public static async Task<int> RunAsync(BenchSettings settings, string outDir)
    {
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_PG_STANDBY") != "1")
            throw new InvalidOperationException("The replication benchmark needs a standby: run it with scripts/bench.sh replication.");
        Console.WriteLine("== synchronous replication: the same debits with synchronous_standby_names '' and '*' (order async, sync, sync, async)");
        var cs = await Databases.CreateAsync("replication");
        var results = new List<RunResult>();
        await using (var host = await SystemHost.StartAsync(cs, new Dictionary<string, string?>()))
        {
            await SetSynchronousAsync(false);
            await host.FundAsync([WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
            int pass = 0;
            foreach (var sync in new[] { false, true, true, false })
            {
                await SetSynchronousAsync(sync);
                var target = sync ? "synchronous standby" : "asynchronous standby";
                var runs = await WalletWorkloads.RunAsync($"{target} {pass++}", settings, host.ChargeAsync, callers: Callers, profile: false);
                results.AddRange(runs.Select(run => run with { Target = target })); // LoadRunner prints each run
            }
            await SetSynchronousAsync(false);
        }
        long acknowledged = results.Sum(r => r.Measured);
        long rows = await Databases.ScalarAsync(cs, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'inference_charge'");
        Console.WriteLine($"  ledger rows {rows:N0} ≥ debits measured {acknowledged:N0} (warm-ups write too)");
        bool rowsOk = rows >= acknowledged;

        // --ha against one PostgreSQL: the same workloads on the Patroni cluster that scripts/bench.sh replication starts
        // (QUBRID_BENCH_PG_HA: its superuser, every node, Target Session Attributes=primary) and on the benchmark server
        // with synchronous_standby_names = '' (one server's commits), in the order single, ha, ha, single.
        var haResults = new List<RunResult>();
        if (Environment.GetEnvironmentVariable(HaVariable) is { Length: > 0 } haServer)
        {
            Console.WriteLine("== --ha (Patroni, synchronous_mode_strict) vs one PostgreSQL (order single, ha, ha, single)");
            var haCs = await Databases.CreateAsync("replication_ha", serverConnectionString: haServer);
            var single = await Databases.CreateAsync("replication_single");
            var funded = new HashSet<string>(StringComparer.Ordinal);
            int pass = 0;
            await SetSynchronousAsync(false);
            foreach (var ha in new[] { false, true, true, false })
            {
                var db = ha ? haCs : single;
                var target = ha ? HaTarget : SingleTarget;
                await using var host = await SystemHost.StartAsync(db, new Dictionary<string, string?>());
                if (funded.Add(db)) await host.FundAsync([WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
                var runs = await WalletWorkloads.RunAsync($"{target} {pass++}", settings, host.ChargeAsync, callers: HaCallers, profile: false);
                haResults.AddRange(runs.Select(run => run with { Target = target }));
            }
            long haAcknowledged = haResults.Where(r => r.Target == HaTarget).Sum(r => r.Measured);
            long haRows = await Databases.ScalarAsync(haCs, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'inference_charge'");
            Console.WriteLine($"  --ha ledger rows {haRows:N0} ≥ debits measured {haAcknowledged:N0}");
            rowsOk &= haRows >= haAcknowledged;
        }

        var section = Section(settings, results, haResults);
        Directory.CreateDirectory(outDir);
        var main = Path.Combine(outDir, "benchmarks.md");
        await File.WriteAllTextAsync(main, File.Exists(main) ? WithSection(await File.ReadAllTextAsync(main), section) : section);
        Console.WriteLine($"  wrote its section of {main}");
        return rowsOk ? 0 : 1;
    }

    /// <summary><paramref name="markdown"/> with its replication section replaced by (or ended with) <paramref name="section"/>.</summary>
    public static string WithSection(string markdown, string section)
    {
        int start = markdown.IndexOf(SectionStart, StringComparison.Ordinal), end = markdown.IndexOf(SectionEnd, StringComparison.Ordinal);
        if (start >= 0 && end > start) return markdown[..start] + section + markdown[(end + SectionEnd.Length)..];
        return markdown.TrimEnd() + "\n\n" + section;
    }

    /// <summary>The replication section of an existing docs/benchmarks.md (kept when the main report is written again), or "".</summary>
    public static string ExistingSection(string path)
    {
        if (!File.Exists(path)) return "";
        var text = File.ReadAllText(path);
        int start = text.IndexOf(SectionStart, StringComparison.Ordinal), end = text.IndexOf(SectionEnd, StringComparison.Ordinal);
        return start >= 0 && end > start ? text[start..(end + SectionEnd.Length)] : "";
    }

    private static async Task SetSynchronousAsync(bool sync)
    {
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using (var cmd = db.CreateCommand($"ALTER SYSTEM SET synchronous_standby_names = '{(sync ? "*" : "")}'")) await cmd.ExecuteNonQueryAsync();
        await using (var cmd = db.CreateCommand("SELECT pg_reload_conf()")) await cmd.ExecuteNonQueryAsync();
        // The reload reaches the backends asynchronously: wait (bounded) until the standby is reported as wanted.
        string wanted = sync ? "sync" : "async";
        for (int i = 0; i < 100; i++)
        {
            await using var cmd = db.CreateCommand("SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming' LIMIT 1");
            if (await cmd.ExecuteScalarAsync() as string == wanted) return;
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"The standby is not streaming as {wanted} after 10 s.");
    }

    private static string Section(BenchSettings settings, List<RunResult> results, List<RunResult> haResults)
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(SectionStart);
        md.AppendLine("## Synchronous replication: debits/s with and without waiting for the standby").AppendLine();
        md.AppendLine(string.Create(inv, $"Generated by `scripts/bench.sh replication` on {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC ({(settings.Quick ? "quick run" : "full run")}): "));
        md.AppendLine("wallet grains through the cluster client (one silo in process), PostgreSQL 15 with a streaming standby on the same machine ");
        md.AppendLine("(both servers and the benchmark share the 2 cores). *sync*: `synchronous_standby_names = '*'`, a commit is acknowledged once ");
        md.AppendLine("the standby has flushed it (what `scripts/start.sh --standby` runs); *async*: `''`, the standby streams but no commit waits for it. ");
        md.AppendLine("Each side measured twice in one run (order async, sync, sync, async); figures are the means of the two windows. ");
        md.AppendLine("*Other CPU* is what neither the benchmark nor PostgreSQL used (other programs on the machine, mean of all windows): ");
        md.AppendLine("above ~0.25 cores the absolute figures are depressed and the ratios noisy.").AppendLine();
        md.AppendLine("| workload | callers | async debits/s | sync debits/s | sync / async | p99 async (ms) | p99 sync (ms) | other CPU (cores) |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var workload in new[] { WalletWorkloads.HotWorkload, WalletWorkloads.ManyWorkload })
        {
            foreach (var callers in Callers)
            {
                double Mean(string target, Func<RunResult, double> f) =>
                    results.Where(r => r.Target == target && r.Workload == workload && r.Callers == callers).Average(f);
                double async = Mean("asynchronous standby", r => r.DebitsPerSecond), sync = Mean("synchronous standby", r => r.DebitsPerSecond);
                double other = results.Where(r => r.Workload == workload && r.Callers == callers).Average(r => r.OtherCores);
                md.AppendLine(string.Create(inv,
                    $"| {workload} | {callers} | {async:N0} | {sync:N0} | {sync / async:0.00} | {Mean("asynchronous standby", r => r.P99Ms):0.00} | {Mean("synchronous standby", r => r.P99Ms):0.00} | {other:0.00} |"));
            }
        }
        if (haResults.Count > 0)
        {
            md.AppendLine().AppendLine("### --ha (Patroni) vs one PostgreSQL").AppendLine();
            md.AppendLine("The same debits on the `--ha` shape that `scripts/bench.sh replication` starts (scripts/lib/patroni.sh: three etcd ");
            md.AppendLine("members, two PostgreSQL nodes under Patroni, `synchronous_mode_strict`, the silo's connection string names both nodes ");
            md.AppendLine("with `Target Session Attributes=primary`) and on one PostgreSQL (the benchmark server, `synchronous_standby_names = ''`), ");
            md.AppendLine("order single, ha, ha, single, each with its own silo host; means of the two windows. Everything shares the 2 cores.").AppendLine();
            md.AppendLine("| workload | callers | one PostgreSQL debits/s | --ha debits/s | --ha / one | p99 one (ms) | p99 --ha (ms) | other CPU (cores) |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var workload in new[] { WalletWorkloads.HotWorkload, WalletWorkloads.ManyWorkload })
            {
                foreach (var callers in HaCallers)
                {
                    double Mean(string target, Func<RunResult, double> f) =>
                        haResults.Where(r => r.Target == target && r.Workload == workload && r.Callers == callers).Average(f);
                    double one = Mean(SingleTarget, r => r.DebitsPerSecond), ha = Mean(HaTarget, r => r.DebitsPerSecond);
                    double other = haResults.Where(r => r.Workload == workload && r.Callers == callers).Average(r => r.OtherCores);
                    md.AppendLine(string.Create(inv,
                        $"| {workload} | {callers} | {one:N0} | {ha:N0} | {ha / one:0.00} | {Mean(SingleTarget, r => r.P99Ms):0.00} | {Mean(HaTarget, r => r.P99Ms):0.00} | {other:0.00} |"));
                }
            }
        }
        md.AppendLine().AppendLine(SectionEnd);
        return md.ToString();
    }
}
