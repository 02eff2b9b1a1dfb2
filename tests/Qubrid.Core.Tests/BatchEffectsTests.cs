using Qubrid.Core;

namespace Qubrid.Core.Tests;

/// <summary>
/// The effects a decision returns (<see cref="BatchEffects"/>) and the batch-end rules that take them: spend limits
/// (R-LIMIT-2, R-LIMIT-3) and the auto top-up (R-AUTO-1), decided through <see cref="WalletBatch.Decide"/> as the grain does.
/// </summary>
public class BatchEffectsTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 10, 12, 0, 0, TimeSpan.Zero); // mid-hour: no period rolls over
    private static readonly DateTimeOffset Now = Start.AddMinutes(1);

    /// <summary>100 USD, a platform limit of 10 USD an hour and one running A100 session opened at <see cref="Start"/>.</summary>
    private static WalletBook LimitedBook()
    {
        var book = WalletBook.New("w");
        book.Policy = WalletPolicy.None with { DefaultLimits = new SpendLimits(Micros.FromUsd(10m)) };
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(100m), "pay_1"), LotKind.Purchased, Start);
        Assert.True(book.OpenSession(new OpenSessionRequest("s", "A100", Workloads.Instance, 1.69m, Start, TimeSpan.Zero), Start).Succeeded);
        book.TakeChanges();
        return book;
    }

    /// <summary>10 USD and an auto top-up below 5 USD up to 20 USD.</summary>
    private static WalletBook AutoTopupBook()
    {
        var book = WalletBook.New("w");
        book.Policy = WalletPolicy.None with { MinTopup = Micros.FromUsd(5m), MaxTopup = Micros.FromUsd(1_000m) };
        book.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay_1"), LotKind.Purchased, Start);
        book.ConfigureAutoTopup(new AutoTopupSettings(true, Micros.FromUsd(5m), Micros.FromUsd(20m), "tok_visa", Micros.FromUsd(100m)));
        book.TakeChanges();
        return book;
    }

    private static BatchDecision Decide(WalletBook book, params WalletOperation[] operations) =>
        WalletBatch.Decide(book, operations, [], _ => null, new BatchContext("w", Now, KeysLookedUp: true, null, TimeSpan.Zero));

    private static DebitOperation Premium(string key, decimal usd) => new(new DebitRequest(key, LedgerEntryKind.PremiumAccess, Micros.FromUsd(usd), "m"));

    private static DebitOperation Adjustment(string key, decimal usd) => new(new DebitRequest(key, LedgerEntryKind.Adjustment, Micros.FromUsd(usd), "fix"));

    private static int Count(BatchDecision decision, string kind) => decision.Changes.Events.Count(e => e.Kind == kind);

    [Fact]
    public void Each_decision_returns_what_the_batch_end_rules_need()
    {
        var book = LimitedBook();
        Assert.Equal(BatchEffects.None, book.Credit(new CreditRequest("c", LedgerEntryKind.Topup, Micros.FromUsd(1m), "pay_2"), LotKind.Purchased, Now).Effects);
        Assert.Equal(BatchEffects.None, book.Debit(Adjustment("a", 1m).Request, Now).Effects);
        Assert.Equal(BatchEffects.None, book.Debit(Adjustment("a2", 1_000m).Request, Now).Effects); // refused, but not a consumption debit
        Assert.Equal(BatchEffects.Spending, book.Debit(Premium("p", 2m).Request, Now).Effects);
        Assert.Equal(BatchEffects.AutoTopupCheck, book.Debit(Premium("p2", 1_000m).Request, Now).Effects);
        Assert.Equal(BatchEffects.AtLimit, book.Debit(Premium("p3", 9m).Request, Now).Effects);
        Assert.Equal(BatchEffects.Spending, book.CreateHold(new HoldRequest("h", Micros.FromUsd(1m), Now.AddMinutes(5), "job"), Now).Effects);
        Assert.Equal(BatchEffects.AutoTopupCheck, book.CreateHold(new HoldRequest("h2", Micros.FromUsd(1_000m), Now.AddMinutes(5), "job"), Now).Effects);
        Assert.Equal(BatchEffects.AtLimit, book.CreateHold(new HoldRequest("h3", Micros.FromUsd(8m), Now.AddMinutes(5), "job"), Now).Effects);
        Assert.Equal(BatchEffects.AutoTopupCheck, book.DecideOpenSession(new OpenSessionRequest("big", "H100", Workloads.Instance, 21.84m, Now, TimeSpan.FromHours(100)), Now).Effects);
        // 3 USD spent and held of 10: a charge of 7 USD more than that ends the session at the limit.
        var charge = book.DecideSessionCharge(new SessionChargeRequest("s", Start.AddHours(6), Final: false), Now);
        Assert.Equal(EndReasons.SpendLimit, charge.Result.Session!.EndReason);
        Assert.Equal(BatchEffects.Spending.Then(BatchEffects.AtLimit), charge.Effects);
    }

    [Fact]
    public void Check_spend_limits_is_a_function_of_the_effects_it_is_given()
    {
        var book = LimitedBook();
        book.Debit(Premium("p", 10m).Request, Now); // lands exactly on the limit
        var quiet = book.Clone();
        Assert.Equal(BatchEffects.None, quiet.CheckSpendLimits(BatchEffects.None, Now));
        Assert.Empty(quiet.Changes.Events);
        Assert.Equal(SessionState.Running, quiet.FindSession("s")!.State);

        book.CheckSpendLimits(BatchEffects.Spending, Now);
        Assert.Equal([EventKinds.SpendLimitWarning, EventKinds.SpendLimitReached, EventKinds.SessionTerminated], book.Changes.Events.Select(e => e.Kind));
        Assert.Equal(EndReasons.SpendLimit, book.FindSession("s")!.EndReason);
    }

    [Fact]
    public void A_batch_whose_debit_reaches_a_limit_raises_spend_limit_reached_once_whatever_the_order_of_its_operations()
    {
        WalletOperation[] operations =
        [
            Premium("p", 10m), // lands exactly on the 10 USD limit: applied
            new CreditOperation(new CreditRequest("c", LedgerEntryKind.Topup, Micros.FromUsd(5m), "pay_2")),
            Adjustment("a", 1m),
            new Settle(),
        ];
        var orders = Permutations(operations).ToList();
        Assert.Equal(24, orders.Count);
        foreach (var order in orders)
        {
            var decision = Decide(LimitedBook(), order);
            var names = string.Join(", ", order.Select(o => o.Key ?? o.Name));
            Assert.True(decision.Results.All(r => r.Wallet is null or { Status: WalletOpStatus.Applied }), names);
            Assert.True(Count(decision, EventKinds.SpendLimitReached) == 1, names);
            Assert.True(Count(decision, EventKinds.SpendLimitWarning) == 1, names);
            var ended = Assert.Single(decision.Changes.Events, e => e.Kind == EventKinds.SessionTerminated);
            Assert.Equal(EndReasons.SpendLimit, ended.Reason);
            Assert.Equal(SessionState.Terminated, decision.Changes.Sessions["s"].State);
            Assert.Equal(Micros.FromUsd(94m), decision.Book!.Balance);
        }
    }

    [Fact]
    public void A_batch_that_only_lowers_a_limit_ends_nothing_until_a_request_meets_the_limit()
    {
        var book = LimitedBook();
        book.Debit(Premium("p", 8m).Request, Now); // spent 8 of 10: no batch-end rule ran

        var lowered = Decide(book, new SetLimitsOperation(LimitScope.Owner, new SpendLimits(Micros.FromUsd(5m))));
        Assert.Empty(lowered.Changes.Events);
        Assert.Equal(SessionState.Running, lowered.Book!.FindSession("s")!.State);

        var refused = Decide(lowered.Book, Premium("p2", 1m));
        Assert.Equal(ErrorCodes.SpendLimitExceeded, refused.Results[0].Wallet!.ErrorCode);
        Assert.Equal([EventKinds.SpendLimitWarning, EventKinds.SpendLimitReached, EventKinds.SessionTerminated], refused.Changes.Events.Select(e => e.Kind));
        Assert.Equal(EndReasons.SpendLimit, refused.Changes.Sessions["s"].EndReason);
    }

    [Fact]
    public void An_auto_top_up_starts_exactly_when_a_consumption_debit_leaves_available_below_the_threshold()
    {
        Assert.Null(Decide(AutoTopupBook(), Premium("p", 4m)).Changes.AutoTopupStarted); // 6 left: not below 5
        Assert.Null(Decide(AutoTopupBook(), Adjustment("a", 6m)).Changes.AutoTopupStarted); // 4 left, but no consumption debit

        foreach (var order in Permutations<WalletOperation>([Adjustment("a", 6m), Premium("p", 0.01m)]))
        {
            var decision = Decide(AutoTopupBook(), order);
            var attempt = decision.Changes.AutoTopupStarted;
            Assert.NotNull(attempt);
            Assert.Equal(Micros.FromUsd(16.01m), attempt.Amount); // target 20 − available 3.99
            Assert.Equal(1, attempt.Attempt);
            Assert.Equal(attempt.Attempt, decision.Book!.AutoTopupInFlight!.Attempt);
        }
    }

    [Fact]
    public void An_insufficient_credits_refusal_of_a_consumption_debit_starts_an_auto_top_up_and_one_of_an_adjustment_does_not()
    {
        var low = Decide(AutoTopupBook(), Adjustment("a", 6m)).Book!; // 4 USD available, no attempt

        var adjustment = Decide(low, Adjustment("a2", 50m));
        Assert.Equal(WalletOpStatus.InsufficientCredits, adjustment.Results[0].Wallet!.Status);
        Assert.Null(adjustment.Changes.AutoTopupStarted);

        var premium = Decide(low, Premium("p", 50m));
        Assert.Equal(WalletOpStatus.InsufficientCredits, premium.Results[0].Wallet!.Status);
        Assert.Equal(Micros.FromUsd(16m), premium.Changes.AutoTopupStarted!.Amount);
    }

    private static IEnumerable<T[]> Permutations<T>(T[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }
        for (int i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, j) => j != i).ToArray();
            foreach (var tail in Permutations(rest)) yield return [items[i], .. tail];
        }
    }
}
