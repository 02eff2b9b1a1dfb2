using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>
/// A model test of <see cref="WalletBatch.Decide"/>, driven as the wallet grain drives it: decide without looking
/// keys up; when a refusal needs them, or the commit finds a key already recorded, look them up and decide again;
/// "commit" the outcomes; sometimes forget every remembered outcome (a new activation). Over random scripts of
/// debits, top-ups and retries under a few keys: a replay answers exactly its first answer (also once forgotten),
/// an acknowledged debit is never refused on retry and a refused one never applied on retry (the refusal is
/// recorded, as SPEC's idempotency asks), the same key with another request is a conflict, and the balance is the
/// sum of what was applied.
/// </summary>
public class WalletBatchModelTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private sealed class Harness
    {
        public WalletBook Book = WalletBook.New("w");
        public readonly Dictionary<string, StoredOutcome> Stored = new(StringComparer.Ordinal);
        public readonly Dictionary<string, StoredOutcome> Recent = new(StringComparer.Ordinal);

        public OperationResult Run(WalletOperation operation)
        {
            bool lookedUp = false;
            var found = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
            for (int attempt = 0; attempt < 3; attempt++)
            {
                var context = new BatchContext("w", Now, lookedUp, null, TimeSpan.FromMinutes(30));
                var decision = WalletBatch.Decide(Book, [operation], [], key => Recent.GetValueOrDefault(key) ?? found.GetValueOrDefault(key), context);
                // What the commit would refuse: a key already recorded (the primary key of qubrid_idempotency).
                if (decision.NeedsKeyLookup || decision.Outcomes.Any(o => Stored.ContainsKey(o.Key)))
                {
                    if (operation.Key is { } key && Stored.TryGetValue(key, out var stored)) found[key] = stored;
                    lookedUp = true;
                    continue;
                }
                foreach (var o in decision.Outcomes)
                {
                    Stored[o.Key] = o;
                    Recent[o.Key] = o;
                }
                Book = decision.Book!;
                return decision.Results[0];
            }
            throw new InvalidOperationException("the decision did not settle in three attempts");
        }
    }

    [Property(MaxTest = 300)]
    public bool Replays_conflicts_refusals_and_forgotten_replays_follow_the_model(int[] script)
    {
        var harness = new Harness();
        var first = new Dictionary<string, (string Fingerprint, WalletOpResult Result)>(StringComparer.Ordinal);
        long applied = 0;
        foreach (var step in script)
        {
            int action = Math.Abs(step % 10);
            string key = $"k{Math.Abs(step / 10 % 4)}";
            if (action == 0)
            {
                harness.Recent.Clear(); // a new activation remembers nothing; the book reloads as stored
                harness.Book = harness.Book.Clone();
                continue;
            }
            WalletOperation operation = action switch
            {
                <= 2 => new CreditOperation(new CreditRequest($"top-{key}", LedgerEntryKind.Topup, new Micros(action * 700), "top-up")),
                _ => new DebitOperation(new DebitRequest(key, LedgerEntryKind.PremiumAccess, new Micros(action % 2 == 0 ? 500 : 900), "premium")),
            };
            var result = harness.Run(operation).Wallet!;
            if (first.TryGetValue(operation.Key!, out var earlier))
            {
                if (earlier.Fingerprint == operation.Fingerprint)
                {
                    if (!(result.Replayed && result.Status == earlier.Result.Status && result.Seq == earlier.Result.Seq
                          && result.Amount == earlier.Result.Amount && result.BalanceAfter == earlier.Result.BalanceAfter
                          && result.ErrorCode == earlier.Result.ErrorCode && result.Detail == earlier.Result.Detail)) return false;
                }
                else if (result.Status != WalletOpStatus.IdempotencyConflict) return false;
                continue;
            }
            if (result.Replayed || result.Status is not (WalletOpStatus.Applied or WalletOpStatus.InsufficientCredits)) return false;
            if (!harness.Stored.ContainsKey(operation.Key!)) return false; // every answer under a key is recorded, a refusal too
            first[operation.Key!] = (operation.Fingerprint!, result);
            if (result.Status == WalletOpStatus.Applied) applied += operation is CreditOperation ? result.Amount.Value : -result.Amount.Value;
        }
        return harness.Book.Balance.Value == applied && applied >= 0;
    }
}
