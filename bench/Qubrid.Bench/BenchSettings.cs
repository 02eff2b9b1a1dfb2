namespace Qubrid.Bench;

/// <summary>One metering scenario: how many sessions, how often they charge, how long they run once all started.</summary>
public sealed record MeteringScenario(int Sessions, TimeSpan Interval, TimeSpan RunFor, int Wallets);

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
                ]);
        // QUBRID_BENCH_CALLERS="32,128" replaces the caller counts of the debit workloads (development).
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_CALLERS") is { Length: > 0 } callers)
        {
            settings = settings with
            {
                Callers = callers.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            };
        }
        // QUBRID_BENCH_METERING="sessions:intervalSeconds:runSeconds:wallets;..." replaces the metering scenarios (development).
        if (Environment.GetEnvironmentVariable("QUBRID_BENCH_METERING") is { Length: > 0 } custom)
        {
            settings = settings with
            {
                Metering = custom.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(spec =>
                {
                    var f = spec.Split(':').Select(x => int.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                    return new MeteringScenario(f[0], TimeSpan.FromSeconds(f[1]), TimeSpan.FromSeconds(f[2]), f[3]);
                }).ToList(),
            };
        }
        return settings;
    }
}
