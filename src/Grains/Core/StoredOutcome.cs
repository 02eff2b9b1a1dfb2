namespace Qubrid.Core;

/// <summary>
/// The recorded outcome of an answered request, keyed by its idempotency key (docs/rules.md, idempotency): what was
/// applied, or a business refusal (402), which the same key answers again, as Stripe records declines.
/// </summary>
public sealed record StoredOutcome(string Key, string Fingerprint, long? Seq, Micros Amount, Micros BalanceAfter, long? LotId,
    WalletOpStatus Status = WalletOpStatus.Applied, string? ErrorCode = null, string? Detail = null)
{
    public WalletOpResult ToResult(bool replayed) =>
        new(Status, Seq, Amount, BalanceAfter, LotId, replayed, ErrorCode, Detail);

    /// <summary>A refusal answered under <paramref name="key"/>: recorded so that a retry with the key gets the same answer.</summary>
    public static StoredOutcome Refused(string key, string fingerprint, WalletOpResult refusal) =>
        new(key, fingerprint, null, refusal.Amount, refusal.BalanceAfter, null, refusal.Status, refusal.ErrorCode, refusal.Detail);
}
