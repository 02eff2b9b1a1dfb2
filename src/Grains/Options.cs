using System.ComponentModel.DataAnnotations;

namespace Qubrid;

/// <summary>The sign-up bonus: promotional credits granted once, when the wallet is created.</summary>
public sealed class SignupBonusOptions
{
    public const string Section = "Qubrid:SignupBonus";

    /// <summary>USD; zero grants nothing. At most 6 decimals.</summary>
    [Range(typeof(decimal), "0", "1000000")]
    public decimal Amount { get; set; } = 5m;

    /// <summary>How long the bonus lasts from the wallet's creation.</summary>
    public TimeSpan ValidFor { get; set; } = TimeSpan.FromDays(30);
}

/// <summary>How wallet grains write the ledger.</summary>
public sealed class WalletOptions
{
    public const string Section = "Qubrid:Wallet";

    /// <summary>Commit the operations queued while a commit is in flight together (group commit). Off: one transaction each.</summary>
    public bool GroupCommit { get; set; } = true;

    /// <summary>Most operations committed in one transaction.</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 1_000;

    /// <summary>Most operations waiting for a commit before new ones are turned away as a fault (back-pressure).</summary>
    [Range(1, 1_000_000)]
    public int MaxQueueLength { get; set; } = 100_000;

    /// <summary>Idempotency outcomes kept in memory per wallet; older ones are looked up in the database.</summary>
    [Range(0, 1_000_000)]
    public int RecentOutcomeCacheSize { get; set; } = 10_000;

    /// <summary>Most lots listed by one call.</summary>
    [Range(1, 10_000)]
    public int MaxLotsListed { get; set; } = 1_000;
}

/// <summary>The clock every billing rule reads. A holder, so tests can shift time without touching Orleans' own clock.</summary>
public sealed class BillingClock(TimeProvider time)
{
    public static BillingClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time => time;

    public DateTimeOffset UtcNow => time.GetUtcNow();
}
