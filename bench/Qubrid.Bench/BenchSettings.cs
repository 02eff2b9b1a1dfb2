namespace Qubrid.Bench;

/// <summary>
/// One metering scenario: how many sessions, how often they charge, how long they run once all started, over how many wallets,
/// in which metering mode; whether every session is stopped at the end (slow at large counts: the drift check does not need it)
/// and whether the silo is restarted on the same database to measure how soon every running session is charged again.
/// </summary>
public sealed record MeteringScenario(int Sessions, TimeSpan Interval, TimeSpan RunFor, int Wallets,
    MeteringMode Mode = MeteringMode.SessionReminders, bool StopAll = true, bool Restart = false);

/// <summary>How long and how wide the run is. QUBRID_BENCH_QUICK=1 gives a short run for development.</summary>
public sealed record BenchSettings(
    bool Quick,
    TimeSpan FirstWarmup,
    TimeSpan Warmup,
    TimeSpan Measure,
    int[] Callers,
    int ManyWallets,
    IReadOnlyList<MeteringScenario> Metering)
{
    /// <summary>The debit every workload makes: 100 input + 50 output tokens of llama-3.1-8b-instruct = 9 micro-USD.</summary>
    public const string Model = "llama-3.1-8b-instruct";
    public const long InputTokens = 100, OutputTokens = 50, DebitMicros = 9;

    /// <summary>Funds of each benchmark wallet (USD): far more than any run can spend.</summary>
    public const decimal WalletFundsUsd = 1_000_000m;

    /// <summary>
    /// The failover scenarios (QUBRID_BENCH_ONLY=metering-failover): 100,000 sessions at 60 s in each metering mode, 100 per wallet.
    /// QUBRID_BENCH_FAILOVER="sessions:intervalSeconds:wallets:mode;..." replaces them.
    /// </summary>
    public IReadOnlyList<MeteringFailoverScenario> Failover { get; init; } =
    [
        new(100_000, TimeSpan.FromSeconds(60), MeteringMode.Shards, 1_000),
        new(100_000, TimeSpan.FromSeconds(60), MeteringMode.SessionReminders, 1_000),
    ];

    public static BenchSettings FromEnvironment()
    {
        bool quick = Environment.GetEnvironmentVariable("QUBRID_BENCH_QUICK") == "1";
        var settings = quick
            ? new BenchSettings(true, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), [1, 8, 32, 128], 10_000,
                [new MeteringScenario(10_000, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(16), 100)])
            : new BenchSettings(false, TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6), [1, 8, 32, 128], 10_000,
                [
                    new MeteringScenario(10_000, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(25), 100),
                    new MeteringScenario(100_000, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120), 1_000),
                    new MeteringScenario(100_000, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(120), 1_000, MeteringMode.Shards, StopAll: false),
                ]);
        // QUBRID_BENCH_CALLERS="32,128" replaces the caller counts of the debit workloads (development).
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_CALLERS") is { Length: > 0 } callers)
        {
            settings = settings with
            {
                Callers = callers.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            };
        }
        // QUBRID_BENCH_METERING="sessions:intervalSeconds:runSeconds:wallets[:mode[:flags]];..." replaces the metering scenarios:
        // mode is reminders (default) or shards; flags are letters: r restarts the silo and measures the resume, n stops no session.
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_METERING") is { Length: > 0 } custom)
        {
            settings = settings with
            {
                Metering = custom.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(spec =>
                {
                    var parts = spec.Split(':');
                    var f = parts.Take(4).Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                    var mode = parts.Length > 4 ? ModeOf(parts[4]) : MeteringMode.SessionReminders;
                    var flags = parts.Length > 5 ? parts[5] : "";
                    return new MeteringScenario(f[0], TimeSpan.FromSeconds(f[1]), TimeSpan.FromSeconds(f[2]), f[3], mode,
                        StopAll: !flags.Contains('n'), Restart: flags.Contains('r'));
                }).ToList(),
            };
        }
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_FAILOVER") is { Length: > 0 } failover)
        {
            settings = settings with
            {
                Failover = failover.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(spec =>
                {
                    var parts = spec.Split(':');
                    var f = parts.Take(3).Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                    return new MeteringFailoverScenario(f[0], TimeSpan.FromSeconds(f[1]), ModeOf(parts.Length > 3 ? parts[3] : "shards"), f[2]);
                }).ToList(),
            };
        }
        return settings;
    }

    private static MeteringMode ModeOf(string name) =>
        name.Equals("shards", StringComparison.OrdinalIgnoreCase) ? MeteringMode.Shards
        : name.Equals("reminders", StringComparison.OrdinalIgnoreCase) ? MeteringMode.SessionReminders
        : throw new FormatException($"Unknown metering mode '{name}' (reminders or shards).");
}
