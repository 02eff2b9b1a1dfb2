using Qubrid.Core;
using Qubrid.Storage;

namespace Qubrid.Bench;

/// <summary>
/// The upper bound: the wallet grain's path with the database write removed. Keeps each wallet's book,
/// sessions and idempotency outcomes in dictionaries; a commit applies the batch and returns version + 1.
/// Benchmark only: nothing here is durable.
/// </summary>
public sealed class InMemoryLedgerStore : ILedgerStore
{
    private readonly Dictionary<string, Stored> _wallets = new(StringComparer.Ordinal);

    private sealed class Stored(WalletBook book)
    {
        public WalletBook Book { get; set; } = book;
        public Dictionary<string, SessionView> Sessions { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, StoredOutcome> Outcomes { get; } = new(StringComparer.Ordinal);
        public long Entries { get; set; }
    }

    private Stored? Find(string walletId)
    {
        lock (_wallets) return _wallets.GetValueOrDefault(walletId);
    }

    public Task<Hold?> FindHoldAsync(string walletId, long number, CancellationToken ct = default) => Task.FromResult<Hold?>(null);

    public Task<WalletBook?> LoadAsync(string walletId, DateTimeOffset now, CancellationToken ct = default)
    {
        if (Find(walletId) is not { } s) return Task.FromResult<WalletBook?>(null);
        lock (s)
        {
            var b = s.Book;
            return Task.FromResult<WalletBook?>(new WalletBook(walletId, b.Balance, b.NextSeq, b.Version, b.OpenLots,
                s.Sessions.Values.Where(x => x.State == SessionState.Running), b.LowBalanceNotified));
        }
    }

    public Task<List<SessionView>> FindSessionsAsync(string walletId, IReadOnlyCollection<string> sessionIds, CancellationToken ct = default)
    {
        var found = new List<SessionView>();
        if (Find(walletId) is { } s)
        {
            lock (s)
            {
                foreach (var id in sessionIds)
                    if (s.Sessions.TryGetValue(id, out var view)) found.Add(view);
            }
        }
        return Task.FromResult(found);
    }

    public Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(string walletId, IReadOnlyCollection<string> keys, CancellationToken ct = default)
    {
        var found = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        if (keys.Count > 0 && Find(walletId) is { } s)
        {
            lock (s)
            {
                foreach (var key in keys)
                    if (s.Outcomes.TryGetValue(key, out var outcome)) found[key] = outcome;
            }
        }
        return Task.FromResult(found);
    }

    public Task<long> CommitAsync(WalletBook book, BookChanges changes, IReadOnlyList<StoredOutcome> outcomes, DateTimeOffset now, CancellationToken ct = default)
    {
        Stored s;
        lock (_wallets)
        {
            if (!_wallets.TryGetValue(book.WalletId, out s!))
            {
                if (book.Version != 0) throw new WalletConcurrencyException(book.WalletId);
                s = new Stored(WalletBook.New(book.WalletId));
                _wallets[book.WalletId] = s;
            }
        }
        lock (s)
        {
            if (s.Book.Version != book.Version) throw new WalletConcurrencyException(book.WalletId);
            if (outcomes.Any(o => s.Outcomes.ContainsKey(o.Key))) throw new IdempotencyKeyTakenException(book.WalletId);
            long version = book.Version + 1;
            s.Book = new WalletBook(book.WalletId, book.Balance, book.NextSeq, version, book.OpenLots, [], book.LowBalanceNotified);
            foreach (var (id, session) in changes.Sessions) s.Sessions[id] = session;
            foreach (var outcome in outcomes) s.Outcomes[outcome.Key] = outcome;
            s.Entries += changes.Entries.Count;
            return Task.FromResult(version);
        }
    }

    public Task<IReadOnlyList<CreditLot>> ListLotsAsync(string walletId, int limit, CancellationToken ct = default)
    {
        IReadOnlyList<CreditLot> lots = Find(walletId) is { } s ? s.Book.OpenLots.Take(limit).ToList() : [];
        return Task.FromResult(lots);
    }

    /// <summary>Entries are counted, not kept: the benchmark never reads them back.</summary>
    public Task<LedgerPage> ReadLedgerAsync(string walletId, LedgerQuery query, CancellationToken ct = default) =>
        Task.FromResult(new LedgerPage([], null));

    public Task<IReadOnlyList<UsageRow>> ReadUsageAsync(string walletId, UsageQuery query, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<UsageRow>>([]);

    public Task<IReadOnlyList<BillingEvent>> ReadEventsAsync(long afterId, int limit, CancellationToken ct = default) =>
        Task.FromResult<IReadOnlyList<BillingEvent>>([]);

    /// <summary>Ledger entries committed, over every wallet.</summary>
    public long EntriesCommitted
    {
        get
        {
            lock (_wallets) return _wallets.Values.Sum(s => { lock (s) return s.Entries; });
        }
    }

    public Task<SessionPage> ListSessionsAsync(SessionQuery query, CancellationToken ct = default) =>
        throw new NotSupportedException("The benchmark's in-memory store does not list sessions.");
}
