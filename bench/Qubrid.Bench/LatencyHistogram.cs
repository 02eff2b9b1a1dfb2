using System.Numerics;

namespace Qubrid.Bench;

/// <summary>
/// A log-linear histogram of microsecond values: exact below 128 µs, then 64 buckets per power of two
/// (under 1.6 % relative error). Fixed size, so recording never allocates.
/// </summary>
public sealed class LatencyHistogram
{
    private const int Linear = 128;
    private const int PerOctave = 64;
    private const int Buckets = Linear + PerOctave * 57;
    private readonly long[] _counts = new long[Buckets];

    private long _count;

    public long Count => Interlocked.Read(ref _count);

    private static int Index(long micros)
    {
        if (micros < Linear) return (int)Math.Max(0, micros);
        int msb = 63 - BitOperations.LeadingZeroCount((ulong)micros); // >= 7
        int shift = msb - 6;                                           // micros >> shift lies in [64, 128)
        return Linear + (shift - 1) * PerOctave + (int)((micros >> shift) - PerOctave);
    }

    /// <summary>The middle of a bucket, in microseconds.</summary>
    private static double ValueOf(int index)
    {
        if (index < Linear) return index;
        int shift = (index - Linear) / PerOctave + 1;
        long sub = (index - Linear) % PerOctave + PerOctave;
        return ((sub << shift) + ((sub + 1) << shift) - 1) / 2.0;
    }

    /// <summary>Single-writer recording (one histogram per load worker).</summary>
    public void Record(long micros)
    {
        _counts[Index(micros)]++;
        _count++;
    }

    /// <summary>Recording from any thread (meter listeners).</summary>
    public void RecordConcurrent(long micros)
    {
        Interlocked.Increment(ref _counts[Index(micros)]);
        Interlocked.Increment(ref _count);
    }

    public void Add(LatencyHistogram other)
    {
        for (int i = 0; i < Buckets; i++) _counts[i] += other._counts[i];
        _count += other._count;
    }

    public void Reset()
    {
        Array.Clear(_counts);
        Interlocked.Exchange(ref _count, 0);
    }

    /// <summary>The value at quantile <paramref name="q"/> (0..1), in microseconds; 0 when empty.</summary>
    public double Quantile(double q)
    {
        long total = 0;
        foreach (var c in _counts) total += c;
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(q * total));
        long seen = 0;
        for (int i = 0; i < Buckets; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return ValueOf(i);
        }
        return ValueOf(Buckets - 1);
    }

    public double Mean()
    {
        long total = 0;
        double sum = 0;
        for (int i = 0; i < Buckets; i++)
        {
            total += _counts[i];
            sum += _counts[i] * ValueOf(i);
        }
        return total == 0 ? 0 : sum / total;
    }
}
