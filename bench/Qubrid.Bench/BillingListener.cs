using System.Diagnostics.Metrics;

namespace Qubrid.Bench;

/// <summary>Listens to the billing meters (<see cref="BillingMetrics"/>): commit latency, batch sizes, tick lag, session charges.</summary>
public sealed class BillingListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _batches, _batchedOps, _charges, _transactions, _transactionWallets;

    public LatencyHistogram CommitMicros { get; } = new();
    public LatencyHistogram TransactionMicros { get; } = new();
    public LatencyHistogram TickLagMicros { get; } = new();
    public LatencyHistogram DecideMicros { get; } = new();
    public LatencyHistogram WriterWaitMicros { get; } = new();
    public long Charges => Interlocked.Read(ref _charges);
    public long Ticks => TickLagMicros.Count;

    public BillingListener()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == BillingMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            switch (instrument.Name)
            {
                case "qubrid.ledger.commit.duration":
                    CommitMicros.RecordConcurrent(value);
                    break;
                case "qubrid.ledger.batch.size":
                    Interlocked.Increment(ref _batches);
                    Interlocked.Add(ref _batchedOps, value);
                    break;
                case "qubrid.ledger.transaction.duration":
                    TransactionMicros.RecordConcurrent(value);
                    break;
                case "qubrid.ledger.transaction.wallets":
                    Interlocked.Increment(ref _transactions);
                    Interlocked.Add(ref _transactionWallets, value);
                    break;
                case "qubrid.wallet.decide.duration":
                    DecideMicros.RecordConcurrent(value);
                    break;
                case "qubrid.ledger.writer.wait":
                    WriterWaitMicros.RecordConcurrent(value);
                    break;
                case "qubrid.session.tick.lag":
                    TickLagMicros.RecordConcurrent(value);
                    break;
                case "qubrid.session.charges":
                    Interlocked.Add(ref _charges, value);
                    break;
            }
        });
        _listener.Start();
    }

    public void Reset()
    {
        CommitMicros.Reset();
        TransactionMicros.Reset();
        Interlocked.Exchange(ref _transactions, 0);
        Interlocked.Exchange(ref _transactionWallets, 0);
        TickLagMicros.Reset();
        DecideMicros.Reset();
        WriterWaitMicros.Reset();
        Interlocked.Exchange(ref _batches, 0);
        Interlocked.Exchange(ref _batchedOps, 0);
        Interlocked.Exchange(ref _charges, 0);
    }

    public long Commits => Interlocked.Read(ref _batches);

    /// <summary>Since the last reset: operations per wallet batch, a wallet's commit wait, wallet batches per transaction, a transaction's time.</summary>
    public CommitStats CommitStats()
    {
        long batches = Interlocked.Read(ref _batches);
        long transactions = Interlocked.Read(ref _transactions);
        return new CommitStats(
            batches == 0 ? 0 : (double)Interlocked.Read(ref _batchedOps) / batches,
            CommitMicros.Quantile(0.5) / 1000,
            CommitMicros.Quantile(0.99) / 1000,
            transactions == 0 ? 0 : (double)Interlocked.Read(ref _transactionWallets) / transactions,
            TransactionMicros.Quantile(0.5) / 1000,
            DecideMicros.Quantile(0.5) / 1000,
            WriterWaitMicros.Quantile(0.5) / 1000);
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// The ledger as the benchmark saw it: operations per wallet batch, how long a wallet waited for its batch to commit
/// (p50/p99, queueing for the writer included), wallet batches per PostgreSQL transaction, one transaction's time (p50),
/// and the parts of a wallet's turn outside the transaction (p50): deciding the batch in memory, waiting for a writer loop.
/// </summary>
public readonly record struct CommitStats(double MeanBatch, double CommitP50Ms, double CommitP99Ms, double MeanWallets, double TransactionP50Ms,
    double DecideP50Ms = 0, double WriterWaitP50Ms = 0);
