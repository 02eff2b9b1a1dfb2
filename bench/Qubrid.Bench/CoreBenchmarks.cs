using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Qubrid.Core;

namespace Qubrid.Bench;

/// <summary>
/// BenchmarkDotNet micro-benchmarks of the pure money core that every debit and tick runs on the grain's
/// turn: how much of a hot wallet's single thread one decision costs.
/// </summary>
[MemoryDiagnoser]
public class CoreBenchmarks
{
    private static readonly DateTimeOffset Now = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private WalletBook _book = null!;
    private WalletBook _sessionsBook = null!;
    private DebitRequest _debit = null!;
    private int _n;

    [GlobalSetup]
    public void Setup()
    {
        _book = Funded("bench");
        _debit = new DebitRequest("k", LedgerEntryKind.InferenceCharge, new Micros(BenchSettings.DebitMicros), "llama in=100 out=50",
            new UsageTags(Model: BenchSettings.Model));
        _sessionsBook = Funded("sessions");
        for (int i = 0; i < 100; i++)
            _sessionsBook.OpenSession(new OpenSessionRequest($"s{i}", "T4", Workloads.Instance, 0.68m, Now, TimeSpan.FromMinutes(10)), Now);
        _sessionsBook.TakeChanges();
    }

    private static WalletBook Funded(string id)
    {
        var book = WalletBook.New(id);
        book.Credit(new CreditRequest("funds", LedgerEntryKind.Topup, Micros.FromUsd(BenchSettings.WalletFundsUsd), "funds"), LotKind.Purchased, Now);
        book.TakeChanges();
        return book;
    }

    /// <summary>Deciding one inference debit against a wallet with one lot (what the flush loop does per operation).</summary>
    [Benchmark]
    public LedgerEntryView? DecideDebit()
    {
        var outcome = _book.Debit(_debit, Now);
        _book.TakeChanges();
        return outcome.Entry;
    }

    /// <summary>One session tick on a wallet running 100 sessions: owed so far, then the charge.</summary>
    [Benchmark]
    public Micros DecideSessionTick()
    {
        var at = Now.AddSeconds(++_n);
        var result = _sessionsBook.ChargeSession(new SessionChargeRequest($"s{_n % 100}", at, Final: false), at);
        _sessionsBook.TakeChanges();
        return result.Debited;
    }

    /// <summary>Runs the benchmarks in this process (no separate build) with a short job; returns (name, ns/op, bytes/op).</summary>
    public static List<(string Name, double NsPerOp, double BytesPerOp)> Run(bool quick)
    {
        var job = (quick ? Job.Dry : Job.ShortRun).WithToolchain(InProcessEmitToolchain.Instance).WithId("short");
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(NullLogger.Instance)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default)
            .WithArtifactsPath(Path.Combine(Path.GetTempPath(), "qubrid-bench-bdn"))
            .WithOptions(ConfigOptions.DisableLogFile);
        var summary = BenchmarkRunner.Run<CoreBenchmarks>(config);
        var rows = new List<(string, double, double)>();
        foreach (var report in summary.Reports)
        {
            double ns = report.ResultStatistics?.Mean ?? double.NaN;
            double bytes = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase) ?? 0;
            rows.Add((report.BenchmarkCase.Descriptor.WorkloadMethod.Name, ns, bytes));
            Console.WriteLine($"  {report.BenchmarkCase.Descriptor.WorkloadMethod.Name,-20} {ns,10:N0} ns/op {bytes,8:N0} B/op");
        }
        return rows;
    }
}
