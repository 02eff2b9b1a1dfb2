using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>One user's credit wallet. Key: the user id. Serializes every change of its balance.</summary>
[Alias("qubrid.IWalletGrain")]
[Version(0)]
public interface IWalletGrain : IGrainWithStringKey
{
    /// <summary>Creates the wallet and grants the sign-up bonus exactly once; a repeat changes nothing.</summary>
    [Alias("Create")] Task<CreateWalletResult> Create();

    [Alias("Credit")] Task<WalletOpResult> Credit(CreditRequest request);

    [Alias("Debit")] Task<WalletOpResult> Debit(DebitRequest request);

    /// <summary>Returns null when the wallet does not exist.</summary>
    [Alias("GetBalance"), ReadOnly] Task<WalletBalance?> GetBalance();

    [Alias("GetLots"), ReadOnly] Task<IReadOnlyList<CreditLot>?> GetLots();

    [Alias("GetLedger"), ReadOnly] Task<LedgerPage?> GetLedger(LedgerQuery query);

    /// <summary>Spending between two instants, grouped in SQL by day, kind, instance type, model and workload.</summary>
    [Alias("GetUsage"), ReadOnly] Task<IReadOnlyList<UsageRow>?> GetUsage(UsageQuery query);

    /// <summary>Registers a running session if the balance covers its minimum runway. Idempotent per session id.</summary>
    [Alias("OpenSession")] Task<SessionOpResult> OpenSession(OpenSessionRequest request);

    /// <summary>Debits what a session owes beyond what the ledger already holds for it; never below zero.</summary>
    [Alias("ChargeSession")] Task<SessionOpResult> ChargeSession(SessionChargeRequest request);

    /// <summary>
    /// Charges every running session of the wallet up to <paramref name="at"/> in one batch (a metering shard's tick), each
    /// exactly as <see cref="ChargeSession"/> would: cumulative owed, out of credits and spend limits end sessions.
    /// </summary>
    [Alias("ChargeRunningSessions")] Task<RunningSessionsCharge> ChargeRunningSessions(DateTimeOffset at);

    [Alias("GetSession"), ReadOnly] Task<SessionView?> GetSession(string sessionId);

    /// <summary>The session as recorded once every operation queued before this call has been decided and committed (a pending open included).</summary>
    [Alias("GetSessionAfterQueued")] Task<SessionView?> GetSessionAfterQueued(string sessionId);

    /// <summary>Prices a query from its token counts; refused (nothing debited) when the balance cannot pay it.</summary>
    [Alias("ChargeInference")] Task<WalletOpResult> ChargeInference(InferenceChargeRequest request);

    [Alias("ChargePremium")] Task<WalletOpResult> ChargePremium(PremiumChargeRequest request);

    /// <summary>Writes the expiration entries of every lot that is due; the expiry reminder calls the same path.</summary>
    [Alias("ExpireDueLots")] Task ExpireDueLots();

    /// <summary>Reserves funds until an expiry (two-phase spending). Idempotent by key.</summary>
    [Alias("CreateHold")] Task<HoldOpResult> CreateHold(HoldRequest request);

    /// <summary>Captures (at most the held amount) or voids a hold. Idempotent by key.</summary>
    [Alias("SettleHold")] Task<HoldOpResult> SettleHold(HoldSettleRequest request);

    /// <summary>Active holds; null when the wallet does not exist.</summary>
    [Alias("GetHolds"), ReadOnly] Task<IReadOnlyList<HoldView>?> GetHolds();

    /// <summary>The limits and this period's spending; null when the wallet does not exist.</summary>
    [Alias("GetLimits"), ReadOnly] Task<LimitsView?> GetLimits();

    /// <summary>Sets the owner's or the admin's limits (the lower applies); null when the wallet does not exist.</summary>
    [Alias("SetLimits")] Task<LimitsView?> SetLimits(LimitScope scope, SpendLimits limits);

    /// <summary>The auto top-up; null when the wallet does not exist.</summary>
    [Alias("GetAutoTopup"), ReadOnly] Task<AutoTopupView?> GetAutoTopup();

    /// <summary>Sets the auto top-up (validated: threshold below target, a cap, a known token); null when the wallet does not exist.</summary>
    [Alias("ConfigureAutoTopup")] Task<AutoTopupView?> ConfigureAutoTopup(AutoTopupSettings settings);

    /// <summary>The auto top-up's report of how attempt <paramref name="attempt"/>'s payment ended.</summary>
    [Alias("AutoTopupSettled")] Task AutoTopupSettled(long attempt, bool succeeded, string? failure);

    /// <summary>The automatic recharge in flight, if any (to resume it after a crash).</summary>
    [Alias("GetAutoTopupInFlight")] Task<AutoTopupAttempt?> GetAutoTopupInFlight();
}
