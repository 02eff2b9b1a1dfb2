using System.Globalization;

namespace Qubrid;

// R-MONEY-1: money is a long of micro-credits everywhere; binary floating point never touches it.
/// <summary>An exact amount of USD credits in integer micro-credits (1e-6 USD).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.Micros")]
public readonly record struct Micros([property: Id(0)] long Value) : IComparable<Micros>
{
    public const long PerUsd = 1_000_000;
    public static readonly Micros Zero = new(0);

    /// <summary>The largest amount one operation may carry: 1,000,000,000 USD. Keeps sums far from overflow.</summary>
    public static readonly Micros MaxOperation = new(1_000_000_000L * PerUsd);

    public static Micros operator +(Micros a, Micros b) => new(checked(a.Value + b.Value));
    public static Micros operator -(Micros a, Micros b) => new(checked(a.Value - b.Value));
    public static Micros operator -(Micros a) => new(checked(-a.Value));
    public static bool operator <(Micros a, Micros b) => a.Value < b.Value;
    public static bool operator >(Micros a, Micros b) => a.Value > b.Value;
    public static bool operator <=(Micros a, Micros b) => a.Value <= b.Value;
    public static bool operator >=(Micros a, Micros b) => a.Value >= b.Value;
    public static Micros Min(Micros a, Micros b) => a.Value <= b.Value ? a : b;
    public static Micros Max(Micros a, Micros b) => a.Value >= b.Value ? a : b;

    public bool IsPositive => Value > 0;
    public bool IsNegative => Value < 0;

    public decimal ToUsd() => Value / (decimal)PerUsd;

    // R-MONEY-2: more than 6 decimals is refused, never rounded; MaxOperation bounds one operation; sums are checked.
    /// <summary>Converts a USD amount that has at most 6 decimals; anything finer is refused, never rounded.</summary>
    public static bool TryFromUsd(decimal usd, out Micros micros)
    {
        micros = Zero;
        if (usd > 9_000_000_000_000m || usd < -9_000_000_000_000m) return false;
        decimal scaled = usd * PerUsd;
        if (scaled != decimal.Truncate(scaled)) return false;
        micros = new Micros((long)scaled);
        return true;
    }

    public static Micros FromUsd(decimal usd) =>
        TryFromUsd(usd, out var m) ? m : throw new ArgumentException($"{usd} USD is not a whole number of micro-credits.", nameof(usd));

    public int CompareTo(Micros other) => Value.CompareTo(other.Value);

    public override string ToString() => ToUsd().ToString("0.000000", CultureInfo.InvariantCulture);
}
