using Qubrid.Core;

namespace Qubrid.Storage;

/// <summary>
/// Where wallets keep their ledger. <see cref="LedgerStore"/> (PostgreSQL) is the only production store;
/// the interface exists so a benchmark can measure the grain path without the database.
/// </summary>
public interface ILedgerStore
{
    /// <summary>The wallet as stored, with what its spending entries took in the hour, day and month holding <paramref name="now"/>.</summary>
    Task<WalletBook?> LoadAsync(string walletId, DateTimeOffset now, CancellationToken ct = default);

    /// <summary>A hold as stored (settled ones too), or null.</summary>
    Task<Hold?> FindHoldAsync(string walletId, long number, CancellationToken ct = default);
    Task<List<SessionView>> FindSessionsAsync(string walletId, IReadOnlyCollection<string> sessionIds, CancellationToken ct = default);
    Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(string walletId, IReadOnlyCollection<string> keys, CancellationToken ct = default);

    /// <summary>
    /// Writes one batch atomically; returns the wallet's new version. Throws <see cref="WalletConcurrencyException"/>
    /// when the wallet moved and <see cref="IdempotencyKeyTakenException"/> when an outcome's key is already recorded.
    /// </summary>
    Task<long> CommitAsync(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes, DateTimeOffset now, CancellationToken ct = default);

    Task<IReadOnlyList<CreditLot>> ListLotsAsync(string walletId, int limit, CancellationToken ct = default);
    Task<LedgerPage> ReadLedgerAsync(string walletId, LedgerQuery query, CancellationToken ct = default);
    Task<IReadOnlyList<UsageRow>> ReadUsageAsync(string walletId, UsageQuery query, CancellationToken ct = default);
    Task<IReadOnlyList<BillingEvent>> ReadEventsAsync(long afterId, int limit, CancellationToken ct = default);
    Task<SessionPage> ListSessionsAsync(SessionQuery query, CancellationToken ct = default);
}
