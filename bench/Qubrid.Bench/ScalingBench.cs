using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Qubrid.ServiceDefaults;

namespace Qubrid.Bench;

/// <summary>One silo count of the scaling run: where the wallet activations were, for the report.</summary>
public sealed record ScalingPlacement(int Silos, IReadOnlyList<int> WalletActivationsPerSilo);

/// <summary>
/// Scaling out on this machine: 1, 2 and 3 real silo processes (src/Silo's Release build, as scripts/cluster.sh
/// starts them) against one PostgreSQL, with ADO.NET clustering; the load comes from an Orleans cluster client in
/// this process that connects to every gateway. The total CPU stays the machine's, so the question is where it
/// saturates, not how far it scales.
/// </summary>
public static class ScalingBench
{
    public static readonly int[] SiloCounts = [1, 2, 3];

    /// <summary>The workloads: 10,000 wallets at 32 and 128 callers, the hot wallet at 128.</summary>
    public static readonly int[] ManyCallers = [32, 128];
    public const int HotCallers = 128;

    public static string Target(int silos) => silos == 1 ? "1 silo" : $"{silos} silos";

    public static async Task RunAsync(BenchSettings settings, BenchResults results)
    {
        var clock = Stopwatch.StartNew();
        var dll = SiloDll();
        Console.WriteLine($"== scaling out: {string.Join(", ", SiloCounts)} silo processes ({dll}) on one PostgreSQL, load from a cluster client in this process");
        var cs = await Databases.CreateAsync("scaling");
        var wallets = new[] { WalletWorkloads.HotWallet }.Concat(WalletWorkloads.ManyWallets(settings.ManyWallets)).ToList();
        // Under scripts/bench.sh's work folder when there is one, so that they go with it even if this process dies.
        var logs = Environment.GetEnvironmentVariable("QUBRID_BENCH_PIDS_DIR") is { Length: > 0 } pids
            ? Directory.CreateDirectory(Path.Combine(pids, $"silo-logs-{Guid.NewGuid():N}"))
            : Directory.CreateTempSubdirectory("qubrid-bench-silos-");
        Console.WriteLine($"  silo logs in {logs.FullName} (removed when the part succeeds)");
        bool funded = false;
        foreach (int n in SiloCounts)
        {
            await using var cluster = await SiloCluster.StartAsync(dll, cs, n, logs.FullName);
            if (!funded)
            {
                var funding = Stopwatch.StartNew();
                await SystemHost.FundAsync(cluster.Client, wallets);
                funded = true;
                Console.WriteLine($"  funded {wallets.Count:N0} wallets in {funding.Elapsed.TotalSeconds:0.0} s");
                var limits = await cluster.Client.GetGrain<IWalletGrain>(WalletWorkloads.HotWallet).GetLimits();
                Console.WriteLine($"  hot wallet's spend limits: {limits}");
            }
            // Every wallet active before the windows, as in the in-process runs (where funding activated them).
            var activating = Stopwatch.StartNew();
            await Parallel.ForEachAsync(wallets, new ParallelOptions { MaxDegreeOfParallelism = 64 },
                async (id, _) => await cluster.Client.GetGrain<IWalletGrain>(id).GetBalance());
            var placement = await cluster.WalletActivationsPerSiloAsync();
            results.ScalingPlacement.Add(new ScalingPlacement(n, placement));
            Console.WriteLine($"  {n} silo(s): {wallets.Count:N0} wallets activated in {activating.Elapsed.TotalSeconds:0.0} s, per silo: {string.Join(" / ", placement)}");

            await CheckpointAsync();
            WalletWorkloads.Charge charge = (wallet, key) => SystemHost.ChargeAsync(cluster.Client, wallet, key);
            results.Scaling.AddRange(await WalletWorkloads.RunAsync(Target(n), settings, charge, many: false, callers: [HotCallers], profile: false, silos: cluster.Pids));
            results.Scaling.AddRange(await WalletWorkloads.RunAsync(Target(n), settings, charge, hot: false, callers: ManyCallers, profile: false, silos: cluster.Pids));
        }
        long acknowledged = SiloCounts.Sum(n => LoadRunner.Totals.Of(Target(n)));
        results.Checks.Add(("scaling: inference_charge ledger rows = debits acknowledged", acknowledged,
            await Databases.ScalarAsync(cs, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'inference_charge'")));
        results.Checks.Add(("scaling: Σ ledger = Σ balances (micro-USD)", 0,
            await Databases.ScalarAsync(cs, "SELECT (SELECT coalesce(sum(amount), 0) FROM qubrid_ledger) - (SELECT coalesce(sum(balance), 0) FROM qubrid_wallets)")));
        logs.Delete(recursive: true);
        Console.WriteLine($"  the scaling part took {clock.Elapsed.TotalSeconds:0} s");
    }

    /// <summary>
    /// The silo as built by the bench's own build (src/Silo is a project reference, built in the same configuration):
    /// QUBRID_BENCH_SILO_DLL (scripts/bench.sh sets it), else found from this assembly's folder.
    /// </summary>
    internal static string SiloDll()
    {
        var given = Environment.GetEnvironmentVariable("QUBRID_BENCH_SILO_DLL");
        // bench/Qubrid.Bench/bin/<Configuration>/net10.0/ → src/Silo/bin/<Configuration>/net10.0/
        var dir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var guess = Path.GetFullPath(Path.Combine(dir.FullName, "..", "..", "..", "..", "..", "src", "Silo", "bin", dir.Parent!.Name, dir.Name, "Qubrid.Silo.dll"));
        var dll = given is { Length: > 0 } ? given : guess;
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"The silo's build is not at {dll}: build src/Silo in Release (scripts/bench.sh does).", dll);
    }

    private static async Task CheckpointAsync()
    {
        await using var db = NpgsqlDataSource.Create(Databases.Server);
        await using var cmd = db.CreateCommand("CHECKPOINT");
        await cmd.ExecuteNonQueryAsync();
    }
}

/// <summary>
/// N silo processes of one cluster and a cluster client connected to their gateways. Disposing (or this process
/// exiting) kills the processes; their pids are also written to QUBRID_BENCH_PIDS_DIR, which scripts/bench.sh kills
/// on exit should this process die first.
/// </summary>
public sealed class SiloCluster : IAsyncDisposable
{
    /// <summary>Ports for silos, gateways and their HTTP endpoints: below Linux's ephemeral range (32768+), above the well-known ones.</summary>
    private const int FirstPort = 20000, LastPort = 31999;

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    private static readonly HashSet<Process> Live = [];

    static SiloCluster()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
    }

    private readonly List<(Process Process, string Log, string? PidFile)> _silos = [];
    private IHost? _client;

    public IClusterClient Client { get; private set; } = null!;

    /// <summary>The silo processes' ids, for their CPU.</summary>
    public IReadOnlyList<int> Pids => _silos.Select(s => s.Process.Id).ToList();

    /// <param name="settings">More configuration for every silo (environment variable names, e.g. Qubrid__Metering__ChargeInterval).</param>
    public static async Task<SiloCluster> StartAsync(string siloDll, string connectionString, int silos, string logDir,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        var cluster = new SiloCluster();
        try
        {
            var clusterId = $"scale{silos}{Guid.NewGuid():N}"[..14];
            var ports = new HashSet<int>();
            for (int i = 1; i <= silos; i++) cluster.StartSilo(siloDll, connectionString, clusterId, i, ports, logDir, settings);
            await cluster.WaitActiveAsync(connectionString, clusterId, silos);
            await cluster.StartClientAsync(connectionString, clusterId);
            var hosts = await cluster.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
            if (hosts.Count != silos) throw new InvalidOperationException($"The cluster has {hosts.Count} active silos, expected {silos}.");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private void StartSilo(string dll, string connectionString, string clusterId, int index, HashSet<int> ports, string logDir,
        IReadOnlyDictionary<string, string>? extra)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll },
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment.Remove("ASPNETCORE_URLS");
        var settings = new Dictionary<string, string>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Qubrid"] = connectionString,
            ["Qubrid__Silo__ClusterId"] = clusterId,
            ["Qubrid__Silo__SiloPort"] = FreePort(ports).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Qubrid__Silo__GatewayPort"] = FreePort(ports).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Qubrid__Silo__HttpPort"] = FreePort(ports).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // As the in-process system host: no signup bonus, no default spending limit (appsettings.json sets 80 USD/h;
            // an empty value binds to null), and no logging on the hot path.
            ["Qubrid__SignupBonus__Amount"] = "0",
            ["Qubrid__Limits__DefaultPerHour"] = "",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Warning",
        };
        foreach (var (k, v) in extra ?? new Dictionary<string, string>()) settings[k] = v;
        foreach (var (k, v) in settings) psi.Environment[k] = v;
        var log = Path.Combine(logDir, $"{clusterId}-silo{index}.log");
        var writer = new StreamWriter(log) { AutoFlush = true };
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Write(writer, e.Data);
        process.ErrorDataReceived += (_, e) => Write(writer, e.Data);
        process.Exited += (_, _) => { lock (writer) writer.Dispose(); };
        lock (Live)
        {
            process.Start();
            Live.Add(process);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        string? pidFile = null;
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_PIDS_DIR") is { Length: > 0 } pids)
        {
            pidFile = Path.Combine(pids, $"silo-{process.Id}.pid");
            File.WriteAllText(pidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        _silos.Add((process, log, pidFile));
        Console.WriteLine($"  silo {index}: pid {process.Id}, silo port {settings["Qubrid__Silo__SiloPort"]}, gateway {settings["Qubrid__Silo__GatewayPort"]}");
    }

    private static void Write(StreamWriter writer, string? line)
    {
        if (line is null) return;
        lock (writer)
        {
            try
            {
                writer.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // the process exited meanwhile
            }
        }
    }

    /// <summary>Waits (bounded) until the membership table shows every silo active; fails early if one exits.</summary>
    private async Task WaitActiveAsync(string connectionString, string clusterId, int silos)
    {
        await using var db = NpgsqlDataSource.Create(connectionString);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            foreach (var (process, log, _) in _silos)
            {
                if (process.HasExited)
                    throw new InvalidOperationException($"Silo pid {process.Id} exited with {process.ExitCode}:{Environment.NewLine}{Tail(log)}");
            }
            await using (var cmd = db.CreateCommand("SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = $1 AND status = 3"))
            {
                cmd.Parameters.Add(new NpgsqlParameter { Value = clusterId });
                try
                {
                    if ((long)(await cmd.ExecuteScalarAsync())! == silos) return;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
                {
                    // the first silo has not created the membership table yet
                }
            }
            if (clock.Elapsed > ReadyTimeout)
                throw new TimeoutException($"{silos} silos not active after {ReadyTimeout.TotalSeconds:0} s:{Environment.NewLine}{string.Join(Environment.NewLine, _silos.Select(s => Tail(s.Log)))}");
            await Task.Delay(250);
        }
    }

    private async Task StartClientAsync(string connectionString, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], EnvironmentName = "Production" });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.UseOrleansClient(c =>
        {
            c.UseQubridTls(builder.Configuration); // none configured: plain TCP on loopback, as the silos
            c.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            c.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = ClusterNames.DefaultServiceId;
            });
        });
        _client = builder.Build();
        await _client.StartAsync().WaitAsync(ReadyTimeout);
        Client = _client.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>Wallet grain activations on each silo (management grain statistics), in silo order.</summary>
    public async Task<IReadOnlyList<int>> WalletActivationsPerSiloAsync()
    {
        var stats = await Client.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics();
        return stats.Where(s => s.GrainType.Contains("WalletGrain", StringComparison.Ordinal))
            .GroupBy(s => s.SiloAddress.ToString())
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Sum(s => s.ActivationCount))
            .ToList();
    }

    private static int FreePort(HashSet<int> taken)
    {
        for (int attempt = 0; attempt < 500; attempt++)
        {
            int port = Random.Shared.Next(FirstPort, LastPort + 1);
            if (!taken.Add(port)) continue;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken by another program: try another
            }
        }
        throw new InvalidOperationException($"No free port in {FirstPort}–{LastPort} after 500 attempts.");
    }

    private static string Tail(string log)
    {
        try
        {
            using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return string.Join(Environment.NewLine, reader.ReadToEnd().Split('\n').TakeLast(20));
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static void KillAll()
    {
        lock (Live)
        {
            foreach (var process in Live) Kill(process);
            Live.Clear();
        }
    }

    /// <summary>kill -9 of silo <paramref name="index"/> (1-based): no goodbye to the cluster, as a crashed machine.</summary>
    public void KillSilo(int index)
    {
        var process = _silos[index - 1].Process;
        process.Kill(entireProcessTree: true);
        process.WaitForExit(10_000);
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // it exited meanwhile
        }
    }

    /// <summary>Stops the client (bounded) and kills the silos: what a benchmark needs, the ledger being durable at every acknowledgement.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_client is not null)
            {
                await _client.StopAsync().WaitAsync(StopTimeout);
                _client.Dispose();
            }
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            Console.Error.WriteLine($"  the cluster client did not stop within {StopTimeout.TotalSeconds:0} s: {e.Message}");
        }
        finally
        {
            foreach (var (process, _, pidFile) in _silos)
            {
                Kill(process);
                using (var wait = new CancellationTokenSource(StopTimeout))
                {
                    try
                    {
                        await process.WaitForExitAsync(wait.Token);
                    }
                    catch (OperationCanceledException)
                    {
                        Console.Error.WriteLine($"  silo pid {process.Id} did not exit within {StopTimeout.TotalSeconds:0} s of SIGKILL");
                    }
                }
                lock (Live) Live.Remove(process);
                if (pidFile is not null) File.Delete(pidFile);
                process.Dispose();
            }
            NpgsqlConnection.ClearAllPools();
        }
    }
}
