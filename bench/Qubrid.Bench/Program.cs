using System.Diagnostics;
using Npgsql;

namespace Qubrid.Bench;

/// <summary>Everything one run measured, for the report.</summary>
public sealed class BenchResults
{
    public List<RunResult> Runs { get; } = [];
    public List<MeteringResult> Metering { get; } = [];
    public List<MeteringFailoverResult> Failover { get; } = [];

    /// <summary>The scaling-out runs (targets "1 silo", "2 silos", "3 silos") and where the wallets were activated.</summary>
    public List<RunResult> Scaling { get; } = [];
    public List<ScalingPlacement> ScalingPlacement { get; } = [];
    public List<(string Name, double NsPerOp, double BytesPerOp)> Micro { get; set; } = [];

    /// <summary>Consistency checks made after the runs: (what, expected, found).</summary>
    public List<(string What, long Expected, long Found)> Checks { get; } = [];

    public TimeSpan Duration { get; set; }

    /// <summary>Machine CPU busy (cores) in the seconds before the run, with nothing of ours running yet.</summary>
    public double BackgroundCores { get; set; }

    public RunResult? Find(string target, string workload, int callers) =>
        Runs.FirstOrDefault(r => r.Target == target && r.Workload == workload && r.Callers == callers);
}

/// <summary>
/// The benchmark harness: `scripts/bench.sh` starts a throwaway PostgreSQL, sets QUBRID_BENCH_PG and runs this.
/// Baselines (pooled and prepared), system (cluster client and HTTP), group commit off, in-memory upper bound,
/// scaling out to 1–3 silo processes, metering at scale;
/// then writes docs/benchmarks.md and docs/benchmarks.png.
/// </summary>
public static class BenchProgram
{
    public const string Baseline = "baseline";
    public const string PreparedBaseline = "baseline (prepared)";
    public const string System = "system";
    public const string Http = "system over HTTP";
    public const string NoGroupCommit = "system, group commit off";
    public const string InMemory = "in-memory store";

    public static async Task<int> Main(string[] args)
    {
        // `Qubrid.Bench replication DIR` (scripts/bench.sh replication): only the synchronous-replication comparison.
        bool replication = args is ["replication", ..];
        var rest = replication ? args[1..] : args;
        var outDir = Path.GetFullPath(rest.Length > 0 ? rest[0] : "docs");
        // WebApplicationFactory finds the API's content root through MvcTestingAppManifest.json in the current directory.
        Directory.SetCurrentDirectory(AppContext.BaseDirectory);
        var settings = BenchSettings.FromEnvironment();
        if (replication) return await ReplicationBench.RunAsync(settings, outDir);
        var clock = Stopwatch.StartNew();
        var machine = await MachineInfo.CollectAsync();
        Console.WriteLine($"Qubrid benchmark ({(settings.Quick ? "quick" : "full")}): {machine.Cores} cores, {machine.Memory}, {machine.DotNet}, PostgreSQL {machine.Postgres}");
        Console.WriteLine($"  {machine.PostgresSettings}");
        var results = new BenchResults();
        var idle = CpuMeter.Start();
        await Task.Delay(TimeSpan.FromSeconds(3));
        results.BackgroundCores = idle.MachineCoresBusy();
        Console.WriteLine($"  machine CPU busy before the run: {results.BackgroundCores:0.00} cores{(results.BackgroundCores > 0.2 ? " — something else is running; figures will be lower" : "")}");
        using var listener = new BillingListener();

        // QUBRID_BENCH_ONLY=micro,baseline,prepared,system,inmemory,scaling,tls,metering runs a subset (development only: the report is
        // then partial); baseline includes prepared.
        var only = Environment.GetEnvironmentVariable("QUBRID_BENCH_ONLY")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool Runs(string phase) => only is null || only.Contains(phase);
        if (only is ["spend-controls"])
        {
            await SpendControlsBench.RunAsync(settings); // figures on the console; the report is about the ledger
            return 0;
        }
        if (only is ["copy"])
        {
            await CopyVsUnnest.RunAsync(); // figures on the console (issue 28: the ledger insert, unnest or binary COPY)
            return 0;
        }
        if (only is ["webhooks"])
        {
            await WebhookBench.RunAsync(); // figures on the console; the report is about the ledger
            return 0;
        }

        if (Runs("micro"))
        {
            Console.WriteLine("== core micro-benchmarks (BenchmarkDotNet, in process)");
            results.Micro = CoreBenchmarks.Run(settings.Quick);
        }
        if (Runs("baseline")) await RunBaselineAsync(settings, results);
        if (Runs("baseline") || Runs("prepared")) await RunPreparedBaselineAsync(settings, results);
        if (Runs("system")) await RunSystemAsync(settings, results, listener);
        if (Runs("inmemory")) await RunInMemoryAsync(settings, results, listener);
        if (Runs("scaling")) await ScalingBench.RunAsync(settings, results);
        if (Runs("tls")) await TlsReadBench.RunAsync(settings, outDir);
        if (Runs("metering"))
        {
            foreach (var scenario in settings.Metering) results.Metering.Add(await MeteringBench.RunAsync(scenario, listener));
        }
        // Only when asked for by name (minutes per scenario): QUBRID_BENCH_ONLY=metering-failover, scenarios in QUBRID_BENCH_FAILOVER.
        if (only is not null && only.Contains("metering-failover"))
        {
            foreach (var scenario in settings.Failover) results.Failover.Add(await MeteringFailoverBench.RunAsync(scenario));
        }

        results.Duration = clock.Elapsed;
        var report = Report.Write(outDir, settings, machine, results);
        Console.WriteLine($"Wrote {report.Markdown} and {report.Chart} in {results.Duration.TotalMinutes:0.0} min.");
        bool consistent = results.Checks.All(c => c.Expected == c.Found) && results.Metering.All(m => m.DriftMicros == 0 && m.SessionsMismatched == 0)
            && results.Failover.All(f => f.DriftMicros == 0 && f.Mismatched == 0 && f.Uncharged == 0);
        if (!consistent) Console.Error.WriteLine("A consistency check failed: see the report.");
        return consistent ? 0 : 1;
    }

    private static async Task RunBaselineAsync(BenchSettings settings, BenchResults results)
    {
        Console.WriteLine("== baseline: naive Npgsql, one transaction per debit");
        var cs = await Databases.CreateAsync("baseline", migrate: false, maxPoolSize: 200);
        await using var baseline = await Qubrid.Bench.Baseline.CreateAsync(cs, [WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
        await CheckpointAsync();
        results.Runs.AddRange(await WalletWorkloads.RunAsync(Baseline, settings,
            (wallet, key) => baseline.DebitAsync(wallet, key, BenchSettings.DebitMicros)));
        results.Checks.Add(("baseline: ledger rows = debits acknowledged", LoadRunner.Totals.Of(Baseline), await baseline.LedgerRowsAsync()));
    }

    private static async Task RunPreparedBaselineAsync(BenchSettings settings, BenchResults results)
    {
        Console.WriteLine("== baseline (prepared): naive Npgsql, one open connection per caller, statements prepared, one transaction per debit");
        var cs = await Databases.CreateAsync("baseline_prepared", migrate: false, maxPoolSize: 200);
        await using var baseline = await Qubrid.Bench.PreparedBaseline.CreateAsync(cs, [WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
        await CheckpointAsync();
        results.Runs.AddRange(await WalletWorkloads.RunAsync(PreparedBaseline, settings, async n =>
        {
            var callers = await baseline.OpenCallersAsync(n);
            return ((caller, wallet, key) => callers.DebitAsync(caller, wallet, key, BenchSettings.DebitMicros), callers);
        }));
        results.Checks.Add(("baseline (prepared): ledger rows = debits acknowledged", LoadRunner.Totals.Of(PreparedBaseline), await baseline.LedgerRowsAsync()));
    }

    private static async Task RunSystemAsync(BenchSettings settings, BenchResults results, BillingListener listener)
    {
        Console.WriteLine("== system: wallet grains on PostgreSQL (cluster client, then HTTP API)");
        var cs = await Databases.CreateAsync("system");
        await using (var host = await SystemHost.StartAsync(cs, new Dictionary<string, string?>(), withApi: true))
        {
            var funding = Stopwatch.StartNew();
            await host.FundAsync([WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
            Console.WriteLine($"  funded {settings.ManyWallets + 1:N0} wallets in {funding.Elapsed.TotalSeconds:0.0} s");
            await CheckpointAsync();
            var footprint = await WriteFootprint.TakeAsync(cs);
            long debitsBefore = LoadRunner.Totals.Of(System);
            results.Runs.AddRange(await WalletWorkloads.RunAsync(System, settings, host.ChargeAsync, listener));
            await Task.Delay(TimeSpan.FromSeconds(1)); // the backends' statistics reach the collector at most every 500 ms
            (await WriteFootprint.TakeAsync(cs)).PrintSince(footprint, LoadRunner.Totals.Of(System) - debitsBefore, System);
            await CheckpointAsync();
            results.Runs.AddRange(await WalletWorkloads.RunAsync(Http, settings, host.ChargeOverHttpAsync, listener));
        }

        Console.WriteLine("== system with group commit off: Qubrid:Wallet:GroupCommit=false, Qubrid:Ledger:MaxWalletsPerCommit=1 (one transaction per operation)");
        var noGroupCommit = new Dictionary<string, string?> { ["Qubrid:Wallet:GroupCommit"] = "false", ["Qubrid:Ledger:MaxWalletsPerCommit"] = "1" };
        await using (var host = await SystemHost.StartAsync(cs, noGroupCommit))
        {
            await CheckpointAsync();
            results.Runs.AddRange(await WalletWorkloads.RunAsync(NoGroupCommit, settings, host.ChargeAsync, listener, callers: [32]));
        }
        long acknowledged = LoadRunner.Totals.Of(System) + LoadRunner.Totals.Of(Http) + LoadRunner.Totals.Of(NoGroupCommit);
        results.Checks.Add(("system: inference_charge ledger rows = debits acknowledged", acknowledged,
            await Databases.ScalarAsync(cs, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'inference_charge'")));
        results.Checks.Add(("system: Σ ledger = Σ balances (micro-USD)", 0,
            await Databases.ScalarAsync(cs, "SELECT (SELECT coalesce(sum(amount), 0) FROM qubrid_ledger) - (SELECT coalesce(sum(balance), 0) FROM qubrid_wallets)")));
    }

    private static async Task RunInMemoryAsync(BenchSettings settings, BenchResults results, BillingListener listener)
    {
        Console.WriteLine("== upper bound: the same grain path with an in-memory ledger store");
        var cs = await Databases.CreateAsync("inmemory");
        var store = new InMemoryLedgerStore();
        await using var host = await SystemHost.StartAsync(cs, new Dictionary<string, string?>(), store);
        await host.FundAsync([WalletWorkloads.HotWallet, .. WalletWorkloads.ManyWallets(settings.ManyWallets)]);
        results.Runs.AddRange(await WalletWorkloads.RunAsync(InMemory, settings, host.ChargeAsync, listener, profile: false));
        results.Checks.Add(("in-memory: entries committed = debits acknowledged + funding credits",
            LoadRunner.Totals.Of(InMemory) + settings.ManyWallets + 1, store.EntriesCommitted));
    }

    /// <summary>Starts each phase from a fresh checkpoint so that no phase pays for another's dirty pages.</summary>
    private static async Task CheckpointAsync()
    {
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand("CHECKPOINT");
        await cmd.ExecuteNonQueryAsync();
    }
}
