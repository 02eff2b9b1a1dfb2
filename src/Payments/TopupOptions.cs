namespace Qubrid.Payments;

// R-TOPUP-1: top-up bounds and presets.
/// <summary>Top-up amounts offered and accepted.</summary>
public sealed class TopupOptions
{
    public const string Section = "Qubrid:Topup";
    public List<decimal> Presets { get; set; } = [10m, 25m, 50m, 100m];
    public decimal Min { get; set; } = 5m;
    public decimal Max { get; set; } = 10_000m;
    /// <summary>Show the sandbox gateway's test cards to users.</summary>
    public bool Sandbox { get; set; } = true;
    /// <summary>Payments left pending longer than this are settled by the recovery loop.</summary>
    public TimeSpan SettleAfter { get; set; } = TimeSpan.FromMinutes(1);
}
