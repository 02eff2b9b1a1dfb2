using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>Scoped credits (docs/rules.md#R-SCOPE-1..4): which lots a debit may take, in which order, and what the balance counts.</summary>
public class ScopedCreditProperties
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A small universe, so that generated scopes and usages often meet.</summary>
    private static readonly CreditScope?[] Scopes =
    [
        null,
        new(InstanceTypes: ["A100"]),
        new(InstanceTypes: ["A100", "H100"]),
        new(InstanceTypes: ["H100"], Workloads: ["training"]),
        new(Workloads: ["notebook"]),
        new(Models: ["deepseek-r1"]),
        new(Models: ["deepseek-r1", "flux-pro-image"]),
    ];

    private static readonly UsageTags?[] Usages =
    [
        null, // an adjustment, a hold capture
        new("s1", "A100", null, "instance"),
        new("s2", "H100", null, "training"),
        new("s3", "H100", null, "instance"),
        new("s4", "T4", null, "notebook"),
        new(Model: "deepseek-r1"),
        new(Model: "flux-pro-image"),
        new(Model: "llama-3.1-8b-instruct"),
    ];

    /// <summary>Lots from generated numbers; a scoped lot is promotional, as the book asserts.</summary>
    private static List<CreditLot> Lots((int Amount, int Spent, byte Kind, int GrantMinutes, int ExpiryMinutes)[] seeds) =>
        seeds.Select((s, i) =>
        {
            long amount = 1 + Math.Abs((long)s.Amount) % 5_000_000;
            long remaining = amount - Math.Abs((long)s.Spent) % (amount + 1);
            var granted = Epoch.AddMinutes(Math.Abs(s.GrantMinutes % 10_000));
            var scope = Scopes[s.Kind % Scopes.Length];
            bool promo = scope is not null || s.Kind % 2 == 0;
            DateTimeOffset? expires = promo ? granted.AddMinutes(1 + Math.Abs(s.ExpiryMinutes % 20_000)) : null;
            return new CreditLot(i + 1, promo ? LotKind.Promotional : LotKind.Purchased, new Micros(amount), new Micros(remaining), granted, expires,
                "test", Scope: scope);
        }).ToList();

    [Property(MaxTest = 500)]
    [Trait("Rule", "R-SCOPE-1")]
    public bool A_scoped_lot_pays_only_for_usage_its_scope_matches((int, int, byte, int, int)[] seeds, PositiveInt want, byte usage, int nowMinutes)
    {
        var lots = Lots(seeds);
        var byId = lots.ToDictionary(l => l.Id);
        var tags = Usages[usage % Usages.Length];
        var now = Epoch.AddMinutes(Math.Abs(nowMinutes % 30_000));
        var allocation = Allocator.Allocate(lots, new Micros(want.Get * 101L), now, tags);
        var payable = lots.Where(l => !l.IsExpiredAt(now) && CreditScopes.Matches(l.Scope, tags)).Aggregate(Micros.Zero, (s, l) => s + l.Remaining);
        return allocation.Takes.All(t => CreditScopes.Matches(byId[t.LotId].Scope, tags))
            && allocation.Takes.All(t => tags is not null || byId[t.LotId].Scope is null)
            && allocation.Taken == Micros.Min(new Micros(want.Get * 101L), payable);
    }

    [Property(MaxTest = 500)]
    [Trait("Rule", "R-SCOPE-2")]
    public bool A_debit_takes_matching_scoped_then_unscoped_promotional_then_purchased_earliest_expiry_then_oldest(
        (int, int, byte, int, int)[] seeds, PositiveInt want, byte usage, int nowMinutes)
    {
        var lots = Lots(seeds);
        var tags = Usages[usage % Usages.Length];
        var now = Epoch.AddMinutes(Math.Abs(nowMinutes % 30_000));
        var allocation = Allocator.Allocate(lots, new Micros(want.Get * 37L), now, tags);
        var live = lots.Where(l => l.Remaining.IsPositive && !l.IsExpiredAt(now)).ToList();
        // The reference order, written independently of Allocator.ConsumptionOrder.
        var expected = live.Where(l => l.Scope is not null && CreditScopes.Matches(l.Scope, tags)).OrderBy(l => (l.ExpiresAt!.Value, l.GrantedAt, l.Id))
            .Concat(live.Where(l => l.Scope is null && l.Kind == LotKind.Promotional).OrderBy(l => (l.ExpiresAt!.Value, l.GrantedAt, l.Id)))
            .Concat(live.Where(l => l.Kind == LotKind.Purchased).OrderBy(l => (l.GrantedAt, l.Id))).ToList();
        var takenIds = allocation.Takes.Select(t => t.LotId).ToList();
        if (!takenIds.SequenceEqual(expected.Take(takenIds.Count).Select(l => l.Id))) return false;
        for (int i = 0; i < allocation.Takes.Count - 1; i++)
        {
            if (allocation.Takes[i].Amount != expected[i].Remaining) return false; // every lot before the last one touched is emptied
        }
        return true;
    }

    /// <summary>
    /// Grants (scoped or not), top-ups and debits of every usage in random order on one book: no lot goes below zero, every
    /// applied debit's takes sum to exactly its amount and come only from lots that may pay for it, and the book stays
    /// consistent (Σ lots = balance = Σ entries).
    /// </summary>
    [Property(MaxTest = 300)]
    [Trait("Rule", "R-SCOPE-1")]
    [Trait("Rule", "R-SCOPE-3")]
    public bool Random_debits_never_take_a_lot_below_zero_and_their_takes_sum_to_the_debit((byte Op, byte Pick, int Amount)[] steps)
    {
        var book = WalletBook.New("w");
        var now = Epoch;
        var entriesSum = Micros.Zero;
        int n = 0;
        foreach (var (op, pick, raw) in steps)
        {
            now = now.AddSeconds(30);
            var amount = new Micros(1 + Math.Abs((long)raw) % 3_000_000);
            string key = $"k{n++}";
            if (op % 3 == 0)
            {
                var scope = Scopes[pick % Scopes.Length];
                var kind = scope is not null || pick % 2 == 0 ? LedgerEntryKind.Grant : LedgerEntryKind.Topup;
                var credit = new CreditRequest(key, kind, amount, "r", kind == LedgerEntryKind.Grant ? now.AddDays(30) : null, scope);
                var lotKind = kind == LedgerEntryKind.Grant ? LotKind.Promotional : LotKind.Purchased;
                entriesSum += book.Credit(credit, lotKind, now).Entry!.Amount;
                continue;
            }
            var tags = Usages[pick % Usages.Length];
            var kindOf = tags is null ? LedgerEntryKind.Adjustment : tags.Model is null ? LedgerEntryKind.SessionCharge : LedgerEntryKind.InferenceCharge;
            var lotsBefore = book.OpenLots.ToDictionary(l => l.Id);
            var spendable = tags is null ? book.GenericLive(now) : book.AvailableFor(tags, now);
            var outcome = book.Debit(new DebitRequest(key, kindOf, amount, "r", tags), now);
            if (outcome.Entry is not { } entry)
            {
                if (outcome.Status == WalletOpStatus.Applied || amount <= spendable) return false; // refused only when it could not be paid
                continue;
            }
            entriesSum += entry.Amount;
            var taken = entry.Lots.Aggregate(Micros.Zero, (s, m) => s - m.Amount);
            if (taken != amount || entry.Amount != -amount) return false;
            if (entry.Lots.Any(m => !CreditScopes.Matches(lotsBefore[m.LotId].Scope, tags) || lotsBefore[m.LotId].Remaining + m.Amount < Micros.Zero))
                return false;
            if (book.OpenLots.Any(l => l.Remaining.IsNegative)) return false;
        }
        book.AssertConsistent();
        return entriesSum == book.Balance && book.Balance == book.Live(now);
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-3")]
    public void Available_leaves_scoped_lots_out_and_a_hold_reserves_unscoped_credits_only()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(10m), "A100 voucher", Epoch.AddDays(30), new CreditScope(InstanceTypes: ["A100"])),
            LotKind.Promotional, Epoch);
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(2m), "pay_1"), LotKind.Purchased, Epoch);

        var balance = book.ToBalance(Epoch);
        Assert.Equal(Micros.FromUsd(12m), balance.Total);
        Assert.Equal(Micros.FromUsd(10m), balance.Scoped);
        Assert.Equal(Micros.FromUsd(10m), balance.Promotional);
        Assert.Equal(Micros.FromUsd(2m), balance.Available);
        Assert.Equal(Micros.FromUsd(12m), book.AvailableFor(new UsageTags("s", "A100", null, "instance"), Epoch));
        Assert.Equal(Micros.FromUsd(2m), book.AvailableFor(new UsageTags(Model: "deepseek-r1"), Epoch));

        var hold = book.CreateHold(new HoldRequest("h", Micros.FromUsd(3m), Epoch.AddHours(1), "job"), Epoch);
        Assert.Equal(WalletOpStatus.InsufficientCredits, hold.Status);
        Assert.Equal(WalletOpStatus.Applied, book.CreateHold(new HoldRequest("h2", Micros.FromUsd(2m), Epoch.AddHours(1), "job"), Epoch).Status);
        // A negative adjustment carries no usage: the scoped lot is not taken, and the purchased one is held.
        Assert.Equal(WalletOpStatus.InsufficientCredits,
            book.Debit(new DebitRequest("adj", LedgerEntryKind.Adjustment, Micros.FromUsd(1m), "fix"), Epoch).Status);
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-3")]
    public void A_running_session_holds_its_next_interval_from_the_scoped_lots_it_matches_first()
    {
        var book = WalletBook.New("w");
        book.Policy = WalletPolicy.None with { SessionHoldInterval = TimeSpan.FromHours(1) };
        book.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(10m), "A100 voucher", Epoch.AddDays(30), new CreditScope(InstanceTypes: ["A100"])),
            LotKind.Promotional, Epoch);
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(30m), "pay_1"), LotKind.Purchased, Epoch);

        Assert.True(book.OpenSession(new OpenSessionRequest("a", "A100", Workloads.Instance, 1.69m, Epoch, TimeSpan.Zero), Epoch).Succeeded);
        // The A100's hour (1.69 USD) is held from its grant: nothing of the 30 USD bought is kept from other usage.
        Assert.Equal(Micros.FromUsd(1.69m), book.Held(Epoch));
        Assert.Equal(Micros.FromUsd(30m), book.Available(Epoch));

        Assert.True(book.OpenSession(new OpenSessionRequest("h", "H100", Workloads.Instance, 21.84m, Epoch, TimeSpan.Zero), Epoch).Succeeded);
        // The H100's hour comes from the purchased credits.
        Assert.Equal(Micros.FromUsd(30m - 21.84m), book.Available(Epoch));
        Assert.Equal(Micros.FromUsd(10m), book.ToBalance(Epoch).Scoped);
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-4")]
    public void A_scoped_grant_counts_for_the_start_and_runway_of_the_sessions_it_matches_only()
    {
        var book = WalletBook.New("w");
        book.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(5m), "A100 voucher", Epoch.AddDays(30), new CreditScope(InstanceTypes: ["A100"])),
            LotKind.Promotional, Epoch);
        var tenMinutes = TimeSpan.FromMinutes(10);

        var h100 = book.OpenSession(new OpenSessionRequest("h", "H100", Workloads.Instance, 21.84m, Epoch, tenMinutes), Epoch);
        Assert.Equal(ErrorCodes.InsufficientCredits, h100.ErrorCode);
        var a100 = book.OpenSession(new OpenSessionRequest("a", "A100", Workloads.Instance, 1.69m, Epoch, tenMinutes), Epoch);
        Assert.True(a100.Succeeded);

        // 5 USD at 1.69 USD/h: 10,650 s (2 h 57 min 30 s), all of it from the A100 grant.
        Assert.Equal(10_650, book.ToBalance(Epoch).RunwaySeconds);
        Assert.Equal(Micros.Zero, book.ToBalance(Epoch).Available);
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-1")]
    public void Normalize_refuses_empty_unknown_and_impossible_scopes_and_sorts_the_rest()
    {
        string[] types = ["A100", "H100"];
        string[] models = ["deepseek-r1"];
        Assert.Equal(ErrorCodes.InvalidScope, CreditScopes.Normalize(new CreditScope(), types, models).ErrorCode);
        Assert.Equal(ErrorCodes.InvalidScope, CreditScopes.Normalize(new CreditScope(InstanceTypes: []), types, models).ErrorCode);
        Assert.Equal(ErrorCodes.UnknownInstanceType, CreditScopes.Normalize(new CreditScope(InstanceTypes: ["B200"]), types, models).ErrorCode);
        Assert.Equal(ErrorCodes.UnknownModel, CreditScopes.Normalize(new CreditScope(Models: ["gpt-9"]), types, models).ErrorCode);
        Assert.Equal(ErrorCodes.InvalidScope, CreditScopes.Normalize(new CreditScope(Workloads: ["batch"]), types, models).ErrorCode);
        Assert.Equal(ErrorCodes.InvalidScope, CreditScopes.Normalize(new CreditScope(["A100"], ["deepseek-r1"]), types, models).ErrorCode);
        var ok = CreditScopes.Normalize(new CreditScope(InstanceTypes: ["H100", "A100", "H100"], Workloads: ["training"]), types, models);
        Assert.True(ok.Valid);
        Assert.Equal(new CreditScope(InstanceTypes: ["A100", "H100"], Workloads: ["training"]), ok.Scope);
        Assert.Equal("""{"instanceTypes":["A100","H100"],"workloads":["training"]}""", CreditScopes.ToJson(ok.Scope!));
        Assert.Equal(ok.Scope, CreditScopes.FromJson(CreditScopes.ToJson(ok.Scope!)));
        Assert.True(CreditScopes.Matches(ok.Scope, new UsageTags("s", "H100", null, "training")));
        Assert.False(CreditScopes.Matches(ok.Scope, new UsageTags("s", "H100", null, "instance")));
        Assert.False(CreditScopes.Matches(ok.Scope, null));
    }
}
