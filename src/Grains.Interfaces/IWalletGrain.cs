using Orleans.Concurrency;

namespace Qubrid;

/// <summary>One user's credit wallet. Key: the user id. Serializes every change of its balance.</summary>
[Alias("qubrid.IWalletGrain")]
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

    [Alias("GetSession"), ReadOnly] Task<SessionView?> GetSession(string sessionId);

    /// <summary>The session as recorded once every operation queued before this call has been decided and committed (a pending open included).</summary>
    [Alias("GetSessionAfterQueued")] Task<SessionView?> GetSessionAfterQueued(string sessionId);

    /// <summary>Prices a query from its token counts; refused (nothing debited) when the balance cannot pay it.</summary>
    [Alias("ChargeInference")] Task<WalletOpResult> ChargeInference(InferenceChargeRequest request);

    [Alias("ChargePremium")] Task<WalletOpResult> ChargePremium(PremiumChargeRequest request);

    /// <summary>Writes the expiration entries of every lot that is due; the expiry reminder calls the same path.</summary>
    [Alias("ExpireDueLots")] Task ExpireDueLots();
}
