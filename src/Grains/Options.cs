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

    /// <summary>The grant a new wallet receives, or null when the bonus is zero.</summary>
    public CreditRequest? GrantFor(string walletId, DateTimeOffset now) => Amount <= 0 ? null
        : new CreditRequest($"signup-bonus:{walletId}", LedgerEntryKind.Grant, Micros.FromUsd(Amount), "sign-up bonus", now + ValidFor);
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

/// <summary>How the silo's ledger writer turns wallet batches into PostgreSQL transactions.</summary>
public sealed class LedgerOptions
{
    public const string Section = "Qubrid:Ledger";

    /// <summary>Transactions in flight at once, each on its own connection.</summary>
    [Range(1, 64)]
    public int Writers { get; set; } = 2;

    /// <summary>Most wallets' batches committed in one transaction (1: one transaction per wallet batch).</summary>
    [Range(1, 10_000)]
    public int MaxWalletsPerCommit { get; set; } = 256;

    /// <summary>
    /// Most wallet batches waiting for a writer (back-pressure). Beyond it a wallet's commit is turned away as busy: its
    /// callers get 503 wallet_busy with Retry-After and retry with their keys; nothing was written.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxQueuedBatches { get; set; } = 10_000;

    /// <summary>
    /// Until the upgrade is finalized (qubrid_cluster_version), how often the writer reads the gate again: how long after
    /// <c>finalize-upgrade</c> a silo may keep writing the previous ledger rows (harmless, only less lean).
    /// </summary>
    public TimeSpan ClusterVersionRefresh { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Session metering: the rate card's defaults, the charge interval and the runway rules.</summary>
public sealed class MeteringOptions
{
    public const string Section = "Qubrid:Metering";

    /// <summary>How often a running session charges its wallet.</summary>
    public TimeSpan ChargeInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A running session whose silo stops gracefully charges up to that moment before its activation goes (its reminder's
    /// next tick comes from another silo, and one tick may fall in the handover); this bounds that last charge.
    /// </summary>
    public TimeSpan ShutdownChargeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A session starts only if the wallet covers this long at the session's rate.</summary>
    public TimeSpan MinimumRunway { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Below this runway (balance ÷ burn rate) a low-balance event is raised, once per crossing.</summary>
    public TimeSpan LowBalanceRunway { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>What charges running sessions every interval: a reminder per session, or a metering shard grain per bucket of wallets.</summary>
    public MeteringMode Mode { get; set; } = MeteringMode.SessionReminders;

    /// <summary>In <see cref="MeteringMode.Shards"/>: how many metering shard grains (one reminder each). Changing it regroups wallets; none is lost.</summary>
    [Range(1, MeteringShards.HashSpace)]
    public int Shards { get; set; } = 64;

    /// <summary>In <see cref="MeteringMode.Shards"/>: wallets one shard charges at once.</summary>
    [Range(1, 1_024)]
    public int ShardParallelism { get; set; } = 32;

    /// <summary>
    /// In <see cref="MeteringMode.Shards"/>: how long a reminder tick waits for its charge pass before it returns (a tick is a grain call
    /// under the 30 s response timeout); the pass goes on after that, and a tick that finds one still running starts none.
    /// </summary>
    public TimeSpan ShardTickWait { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Default on-demand rates, USD per hour; the rate card grain starts from these and admins may change them.</summary>
    public Dictionary<string, decimal> Rates { get; set; } = new(StringComparer.Ordinal)
    {
        ["T4"] = 0.68m,
        ["L4"] = 1.05m,
        ["A100"] = 1.69m,
        ["H200"] = 3.25m,
        ["H100"] = 21.84m,
        ["CPU"] = 0.12m,
    };
}

/// <summary>Prices of inference (USD per million tokens) and of premium models or APIs (USD per access).</summary>
public sealed class PriceListOptions
{
    public const string Section = "Qubrid:Prices";

    public Dictionary<string, ModelPriceOption> Models { get; set; } = new(StringComparer.Ordinal)
    {
        ["llama-3.1-8b-instruct"] = new() { InputUsdPerMillion = 0.05m, OutputUsdPerMillion = 0.08m },
        ["llama-3.3-70b-instruct"] = new() { InputUsdPerMillion = 0.59m, OutputUsdPerMillion = 0.79m },
        ["qwen2.5-coder-32b"] = new() { InputUsdPerMillion = 0.20m, OutputUsdPerMillion = 0.20m },
        ["deepseek-r1"] = new() { InputUsdPerMillion = 0.55m, OutputUsdPerMillion = 2.19m },
    };

    public Dictionary<string, decimal> Premium { get; set; } = new(StringComparer.Ordinal)
    {
        ["flux-pro-image"] = 0.05m,
        ["premium-model-access"] = 1.00m,
    };

    public PriceList ToPriceList() => new(
        Models.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => new ModelPrice(m.Key, m.Value.InputUsdPerMillion, m.Value.OutputUsdPerMillion)).ToList(),
        Premium.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new PremiumPrice(p.Key, p.Value)).ToList());
}

public sealed class ModelPriceOption
{
    public decimal InputUsdPerMillion { get; set; }
    public decimal OutputUsdPerMillion { get; set; }
}

/// <summary>The platform's spending limits where the admin set none (docs/rules.md#R-LIMIT-1); null means no limit.</summary>
public sealed class SpendLimitOptions
{
    public const string Section = "Qubrid:Limits";

    /// <summary>USD per UTC calendar hour, e.g. 80.</summary>
    public decimal? DefaultPerHour { get; set; }
    public decimal? DefaultPerDay { get; set; }
    public decimal? DefaultPerMonth { get; set; }

    /// <summary>A spend_limit_warning is raised once per period at this share of a limit.</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100)]
    public int WarningPercent { get; set; } = 80;

    public SpendLimits ToDefaults() => new(Usd(DefaultPerHour), Usd(DefaultPerDay), Usd(DefaultPerMonth));

    private static Micros? Usd(decimal? usd) => usd is { } v ? Micros.FromUsd(v) : null;
}

/// <summary>Holds (docs/rules.md#R-HOLD-2).</summary>
public sealed class HoldOptions
{
    public const string Section = "Qubrid:Holds";

    /// <summary>How far ahead a hold's expiresAt may be (400 invalid_expiry beyond it).</summary>
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>Automatic recharge (docs/rules.md#R-AUTO-1).</summary>
public sealed class AutoTopupOptions
{
    public const string Section = "Qubrid:AutoTopup";

    /// <summary>After a failed payment, the next attempt waits this long.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>After this many failed payments in a row the auto top-up turns itself off (auto_topup_disabled).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100)]
    public int MaxFailures { get; set; } = 3;

    /// <summary>While an attempt is in flight, a reminder resumes it this often (on another silo if the one running it died).</summary>
    public TimeSpan ResumeAfter { get; set; } = TimeSpan.FromMinutes(1);
}
