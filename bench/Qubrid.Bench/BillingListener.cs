using System.Diagnostics.Metrics;

namespace Qubrid.Bench;

/// <summary>Listens to the billing meters (<see cref="BillingMetrics"/>): commit latency, batch sizes, tick lag, session charges.</summary>
public sealed class BillingListener : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _batches, _batchedOps, _charges;

    public LatencyHistogram CommitMicros { get; } = new();
    public LatencyHistogram TickLagMicros { get; } = new();
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
        TickLagMicros.Reset();
        Interlocked.Exchange(ref _batches, 0);
        Interlocked.Exchange(ref _batchedOps, 0);
        Interlocked.Exchange(ref _charges, 0);
    }

    public long Commits => Interlocked.Read(ref _batches);

    /// <summary>Mean operations per ledger transaction, commit p50 and p99 in ms, since the last reset.</summary>
    public (double MeanBatch, double CommitP50Ms, double CommitP99Ms) CommitStats()
    {
        long batches = Interlocked.Read(ref _batches);
        double mean = batches == 0 ? 0 : (double)Interlocked.Read(ref _batchedOps) / batches;
        return (mean, CommitMicros.Quantile(0.5) / 1000, CommitMicros.Quantile(0.99) / 1000);
    }

    public void Dispose() => _listener.Dispose();
}
