using System.Globalization;
using System.Text;
using Qubrid.ServiceDefaults;

namespace Qubrid.Bench;

/// <summary>
/// Read throughput through the gateway with cluster TLS off and on, in the same run: a silo and a cluster client
/// (<see cref="SystemHost"/>) calling <c>GetBalance</c> on funded wallets, once without <c>Qubrid:Tls</c> and once with
/// mutual TLS (certificates made by <see cref="ClusterTls.CreateLocal"/>): after a warm-up pass each way (not counted),
/// in the order off, on, on, off so that a drift of the machine over the run falls on both sides. <c>QUBRID_BENCH_ONLY=tls</c> runs only this.
/// </summary>
public static class TlsReadBench
{
    public const string Workload = "GetBalance (read)";
    private const int Wallets = 1_000;

    public static async Task<List<RunResult>> RunAsync(BenchSettings settings, string outDir)
    {
        Console.WriteLine("== cluster TLS: reads through the gateway with Qubrid:Tls off and on (order off, on, on, off)");
        var tlsDir = Path.Combine(Path.GetTempPath(), $"qubrid-bench-tls-{Guid.NewGuid():N}");
        ClusterTls.CreateLocal(tlsDir);
        var cs = await Databases.CreateAsync("tls_reads");
        var wallets = Enumerable.Range(0, Wallets).Select(i => $"tls-read-{i}").ToArray();
        var results = new List<RunResult>();
        try
        {
            bool funded = false;
            // A first pass each way, not counted, warms the JIT for both paths.
            foreach (var (tls, counted) in new[] { (false, false), (true, false), (false, true), (true, true), (true, true), (false, true) })
            {
                var hostSettings = tls
                    ? new Dictionary<string, string?>
                    {
                        ["Qubrid:Tls:CertificatePath"] = Path.Combine(tlsDir, "node.crt"),
                        ["Qubrid:Tls:KeyPath"] = Path.Combine(tlsDir, "node.key"),
                        ["Qubrid:Tls:CaPath"] = Path.Combine(tlsDir, "ca.crt"),
                    }
                    : new Dictionary<string, string?> { ["Qubrid:Tls:Enabled"] = "false" };
                await using var host = await SystemHost.StartAsync(cs, hostSettings);
                if (!funded)
                {
                    await host.FundAsync(wallets);
                    funded = true;
                }
                foreach (var callers in new[] { 1, 32 })
                {
                    var target = (tls ? "TLS on" : "TLS off") + (counted ? "" : " (warm-up)");
                    var run = await LoadRunner.RunAsync(target, Workload, callers, settings, async (caller, seq) =>
                        await host.Client.GetGrain<IWalletGrain>(wallets[(int)((caller * 7919L + seq) % Wallets)]).GetBalance() is not null);
                    Console.WriteLine($"  {target,-18} {callers,3} callers: {run.DebitsPerSecond,10:N0} reads/s  p50 {run.P50Ms:0.000} ms  p99 {run.P99Ms:0.000} ms  CPU {run.CpuCores:0.00} cores");
                    if (counted) results.Add(run);
                }
            }
        }
        finally
        {
            Directory.Delete(tlsDir, recursive: true);
        }

        var md = new StringBuilder();
        md.AppendLine("# Cluster TLS: read throughput on vs off").AppendLine();
        md.AppendLine("Cluster client → gateway → wallet grain `GetBalance` (in memory after activation), one silo and the client in one process on loopback; ");
        md.AppendLine("each side measured twice (order off, on, on, off), figures are the mean of the two windows.").AppendLine();
        md.AppendLine("| callers | TLS off reads/s | TLS on reads/s | on / off | p99 off (ms) | p99 on (ms) |");
        md.AppendLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var callers in new[] { 1, 32 })
        {
            double Mean(string target, Func<RunResult, double> f) => results.Where(r => r.Target == target && r.Callers == callers).Average(f);
            double off = Mean("TLS off", r => r.DebitsPerSecond), on = Mean("TLS on", r => r.DebitsPerSecond);
            var line = string.Create(CultureInfo.InvariantCulture,
                $"| {callers} | {off:N0} | {on:N0} | {on / off:0.00} | {Mean("TLS off", r => r.P99Ms):0.000} | {Mean("TLS on", r => r.P99Ms):0.000} |");
            md.AppendLine(line);
            Console.WriteLine($"  {callers,3} callers: TLS on / off = {on / off:0.00} ({on:N0} / {off:N0} reads/s)");
        }
        Directory.CreateDirectory(outDir);
        var path = Path.Combine(outDir, "benchmarks-tls.md");
        await File.WriteAllTextAsync(path, md.ToString());
        Console.WriteLine($"  wrote {path}");
        return results;
    }
}
