using System.Diagnostics.Metrics;

namespace Qubrid;

/// <summary>The billing meters (OpenTelemetry picks them up by the meter name). Durations are whole microseconds.</summary>
public static class BillingMetrics
{
    public const string MeterName = ClusterNames.BillingMeter;
    private static readonly Meter Meter = new(MeterName, "1.0");
    private static long _runningSessions;

    public static readonly Counter<long> Operations =
        Meter.CreateCounter<long>("qubrid.wallet.operations", description: "Wallet operations answered, by kind and status.");

    public static readonly Histogram<long> CommitMicros =
        Meter.CreateHistogram<long>("qubrid.ledger.commit.duration", unit: "us", description: "Time for a wallet to get one batch committed, queueing for the writer included.");

    public static readonly Histogram<long> BatchSize =
        Meter.CreateHistogram<long>("qubrid.ledger.batch.size", unit: "{operation}", description: "Operations of one wallet committed together (one wallet batch).");

    public static readonly Histogram<long> TransactionMicros =
        Meter.CreateHistogram<long>("qubrid.ledger.transaction.duration", unit: "us", description: "Time of one ledger transaction (one round trip) of the silo's writer.");

    public static readonly Histogram<long> TransactionWallets =
        Meter.CreateHistogram<long>("qubrid.ledger.transaction.wallets", unit: "{wallet}", description: "Wallet batches written in one ledger transaction.");

    public static readonly Histogram<long> DecideMicros =
        Meter.CreateHistogram<long>("qubrid.wallet.decide.duration", unit: "us", description: "Time for a wallet to decide one batch in memory, up to handing it to the ledger writer.");

    public static readonly Histogram<long> WriterWaitMicros =
        Meter.CreateHistogram<long>("qubrid.ledger.writer.wait", unit: "us", description: "Time a wallet batch waited for a writer loop to take it into a transaction.");

    public static readonly Histogram<long> TickLagMicros =
        Meter.CreateHistogram<long>("qubrid.session.tick.lag", unit: "us", description: "How late a session's charge reminder fired.");

    public static readonly Counter<long> SessionCharges =
        Meter.CreateCounter<long>("qubrid.session.charges", description: "Session ticks that charged a wallet.");

    static BillingMetrics()
    {
        Meter.CreateObservableGauge("qubrid.sessions.running", () => Interlocked.Read(ref _runningSessions),
            description: "Running sessions metered on this silo: session grains with their own reminder, or (metering shards) the running sessions of the wallets active here.");
    }

    public static void SessionStartedRunning() => Interlocked.Increment(ref _runningSessions);

    public static void SessionStoppedRunning() => Interlocked.Decrement(ref _runningSessions);

    /// <summary>A wallet activation's change in the running sessions it meters (metering shards).</summary>
    public static void AdjustRunningSessions(int delta)
    {
        if (delta != 0) Interlocked.Add(ref _runningSessions, delta);
    }
}
