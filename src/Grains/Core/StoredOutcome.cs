namespace Qubrid.Core;

/// <summary>The recorded outcome of an acknowledged request, keyed by its idempotency key (docs/rules.md, idempotency).</summary>
public sealed record StoredOutcome(string Key, string Fingerprint, long? Seq, Micros Amount, Micros BalanceAfter, long? LotId)
{
    public WalletOpResult ToResult(bool replayed) =>
        new(WalletOpStatus.Applied, Seq, Amount, BalanceAfter, LotId, replayed);
}
