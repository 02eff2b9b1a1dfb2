using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

[Collection(ClusterCollection.Name)]
public class WalletGrainTests(BillingCluster cluster)
{
    private static Micros Usd(decimal usd) => Micros.FromUsd(usd);

    private static CreditRequest Topup(decimal usd, string? key = null) =>
        new(key ?? Guid.NewGuid().ToString("N"), LedgerEntryKind.Topup, Usd(usd), "pay_test");

    private static DebitRequest Inference(decimal usd, string? key = null) =>
        new(key ?? Guid.NewGuid().ToString("N"), LedgerEntryKind.InferenceCharge, Usd(usd), "model-x", new UsageTags(Model: "model-x"));

    [Fact]
    [Trait("Rule", "R-ADMIN-1")]
    [Trait("Rule", "R-IDEM-5")]
    [Trait("Rule", "R-LOT-1")]
    public async Task Creating_a_wallet_grants_the_signup_bonus_exactly_once()
    {
        var wallet = cluster.Wallet($"bonus-{Guid.NewGuid():N}");
        var first = await wallet.Create();
        var again = await wallet.Create();
        Assert.True(first.Created);
        Assert.False(again.Created);
        var balance = await wallet.GetBalance();
        Assert.Equal(Usd(BillingCluster.SignupBonusUsd), balance!.Total);
        Assert.Equal(Usd(BillingCluster.SignupBonusUsd), balance.Promotional);
        Assert.NotNull(balance.NextExpiry);
        var lots = await wallet.GetLots();
        var lot = Assert.Single(lots!);
        Assert.Equal(LotKind.Promotional, lot.Kind);
        Assert.Equal(1, await cluster.LedgerRowsAsync(wallet.GetPrimaryKeyString()));
    }

    [Fact]
    [Trait("Rule", "R-LOT-4")]
    public async Task Thousand_concurrent_debits_on_five_hundred_credits_exactly_five_hundred_succeed()
    {
        var wallet = await cluster.NewWalletAsync("hot");
        Assert.True((await wallet.Credit(Topup(500m - BillingCluster.SignupBonusUsd))).Succeeded);

        var results = await Task.WhenAll(Enumerable.Range(0, 1000).Select(i => wallet.Debit(Inference(1m, $"debit-{i}"))));

        Assert.Equal(500, results.Count(r => r.Status == WalletOpStatus.Applied));
        Assert.Equal(500, results.Count(r => r.Status == WalletOpStatus.InsufficientCredits));
        Assert.Equal(Micros.Zero, (await wallet.GetBalance())!.Total);
        Assert.Equal(500 + 2, await cluster.LedgerRowsAsync(wallet.GetPrimaryKeyString()));
        Assert.Equal(500, results.Where(r => r.Succeeded).Select(r => r.Seq).Distinct().Count());
        var report = await Reconciler.RunAsync(cluster.Db);
        Assert.Empty(report.Violations);
    }

    [Fact]
    [Trait("Rule", "R-LEDGER-2")]
    [Trait("Rule", "R-LOT-2")]
    [Trait("Rule", "R-LOT-3")]
    public async Task A_debit_spanning_three_lots_takes_them_in_order_and_records_the_split()
    {
        var wallet = await cluster.NewWalletAsync("mixed"); // bonus: 5 USD, expires in 30 days
        var now = cluster.Clock.GetUtcNow();
        var late = await wallet.Credit(new CreditRequest("g-late", LedgerEntryKind.Grant, Usd(3m), "beta access", now.AddDays(60)));
        var early = await wallet.Credit(new CreditRequest("g-early", LedgerEntryKind.Grant, Usd(2m), "promotion", now.AddDays(7)));
        var bought = await wallet.Credit(Topup(10m));
        var bonusLot = (await wallet.GetLots())!.Single(l => l.Source == "sign-up bonus").Id;

        var debit = await wallet.Debit(Inference(12.5m));

        Assert.True(debit.Succeeded);
        var page = await wallet.GetLedger(new LedgerQuery(Limit: 1));
        var entry = Assert.Single(page!.Items);
        Assert.Equal(debit.Seq, entry.Seq);
        Assert.Equal(-Usd(12.5m), entry.Amount);
        Assert.Equal(
            [new LotMovement(early.LotId!.Value, -Usd(2m)), new LotMovement(bonusLot, -Usd(5m)),
             new LotMovement(late.LotId!.Value, -Usd(3m)), new LotMovement(bought.LotId!.Value, -Usd(2.5m))],
            entry.Lots.OrderBy(m => Order(m.LotId)).ToList());
        var balance = await wallet.GetBalance();
        Assert.Equal(Usd(7.5m), balance!.Purchased);
        Assert.Equal(Micros.Zero, balance.Promotional);

        int Order(long lotId) => lotId == early.LotId ? 0 : lotId == bonusLot ? 1 : lotId == late.LotId ? 2 : 3;
    }

    [Fact]
    [Trait("Rule", "R-IDEM-3")]
    public async Task Replaying_a_key_returns_the_first_result_and_a_different_request_under_it_conflicts()
    {
        var wallet = await cluster.NewWalletAsync("idem");
        var first = await wallet.Debit(Inference(1.25m, "same-key"));
        var replay = await wallet.Debit(Inference(1.25m, "same-key"));
        var different = await wallet.Debit(Inference(2m, "same-key"));

        Assert.True(first.Succeeded);
        Assert.Equal(first with { Replayed = true }, replay);
        Assert.Equal(WalletOpStatus.IdempotencyConflict, different.Status);
        Assert.Equal(ErrorCodes.IdempotencyConflict, different.ErrorCode);
        Assert.Equal(2, await cluster.LedgerRowsAsync(wallet.GetPrimaryKeyString()));
        Assert.Equal(Usd(3.75m), (await wallet.GetBalance())!.Total);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(2_000_000_000)]
    public async Task Bad_amounts_are_refused_with_a_code_and_nothing_is_written(long usd)
    {
        var wallet = await cluster.NewWalletAsync("bad");
        var id = wallet.GetPrimaryKeyString();
        var credit = await wallet.Credit(new CreditRequest("k1", LedgerEntryKind.Topup, new Micros(usd * Micros.PerUsd), "x"));
        var debit = await wallet.Debit(new DebitRequest("k2", LedgerEntryKind.InferenceCharge, new Micros(usd * Micros.PerUsd), "x"));
        Assert.Equal((WalletOpStatus.Invalid, ErrorCodes.InvalidAmount), (credit.Status, credit.ErrorCode));
        Assert.Equal((WalletOpStatus.Invalid, ErrorCodes.InvalidAmount), (debit.Status, debit.ErrorCode));
        Assert.Equal(1, await cluster.LedgerRowsAsync(id));
    }

    [Fact]
    [Trait("Rule", "R-ADMIN-2")]
    [Trait("Rule", "R-IDEM-1")]
    public async Task Empty_keys_missing_reasons_and_wrong_kinds_are_refused_and_nothing_is_written()
    {
        var wallet = await cluster.NewWalletAsync("bad2");
        var id = wallet.GetPrimaryKeyString();
        var now = cluster.Clock.GetUtcNow();
        WalletOpResult[] results =
        [
            await wallet.Debit(new DebitRequest("", LedgerEntryKind.InferenceCharge, Usd(1), "m")),
            await wallet.Debit(new DebitRequest("   ", LedgerEntryKind.InferenceCharge, Usd(1), "m")),
            await wallet.Debit(new DebitRequest(new string('k', 500), LedgerEntryKind.InferenceCharge, Usd(1), "m")),
            await wallet.Debit(new DebitRequest("k", LedgerEntryKind.Adjustment, Usd(1), "")),
            await wallet.Debit(new DebitRequest("k", LedgerEntryKind.Topup, Usd(1), "m")),
            await wallet.Credit(new CreditRequest("k", LedgerEntryKind.Grant, Usd(1), "promo")),
            await wallet.Credit(new CreditRequest("k", LedgerEntryKind.Grant, Usd(1), "promo", now.AddMinutes(-1))),
            await wallet.Credit(new CreditRequest("k", LedgerEntryKind.Topup, Usd(1), "pay", now.AddDays(1))),
            await wallet.Credit(new CreditRequest("k", LedgerEntryKind.SessionCharge, Usd(1), "pay")),
        ];
        Assert.All(results, r => Assert.Equal(WalletOpStatus.Invalid, r.Status));
        Assert.All(results, r => Assert.False(string.IsNullOrEmpty(r.ErrorCode)));
        Assert.Equal(1, await cluster.LedgerRowsAsync(id));
    }

    [Fact]
    [Trait("Rule", "R-MONEY-2")]
    public void Amounts_with_more_than_six_decimals_cannot_even_be_expressed() =>
        Assert.False(Micros.TryFromUsd(1.0000001m, out _));

    [Fact]
    public async Task An_unknown_wallet_is_a_clear_result_and_nothing_is_created()
    {
        var wallet = cluster.Wallet($"ghost-{Guid.NewGuid():N}");
        var result = await wallet.Debit(Inference(1m));
        Assert.Equal(WalletOpStatus.WalletNotFound, result.Status);
        Assert.Equal(ErrorCodes.WalletNotFound, result.ErrorCode);
        Assert.Null(await wallet.GetBalance());
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_wallets WHERE wallet_id = $1", wallet.GetPrimaryKeyString()));
    }

    [Fact]
    [Trait("Rule", "R-LOT-5")]
    public async Task Session_charges_take_what_is_left_and_never_go_below_zero()
    {
        var wallet = await cluster.NewWalletAsync("partial");
        var result = await wallet.Debit(new DebitRequest("s1-1", LedgerEntryKind.SessionCharge, Usd(7m), "s1", new UsageTags("s1", "T4"), AllowPartial: true));
        Assert.True(result.Succeeded);
        Assert.Equal(Usd(BillingCluster.SignupBonusUsd), result.Amount);
        Assert.Equal(Micros.Zero, result.BalanceAfter);
        var refused = await wallet.Debit(Inference(0.01m));
        Assert.Equal(WalletOpStatus.InsufficientCredits, refused.Status);
    }

    [Fact]
    public async Task Ledger_pages_newest_first_with_a_cursor_and_filters()
    {
        var wallet = await cluster.NewWalletAsync("pages");
        for (int i = 0; i < 7; i++) await wallet.Credit(Topup(1m));
        for (int i = 0; i < 5; i++) await wallet.Debit(Inference(0.5m));

        var seen = new List<long>();
        long? cursor = null;
        do
        {
            var page = await wallet.GetLedger(new LedgerQuery(Before: cursor, Limit: 4));
            seen.AddRange(page!.Items.Select(e => e.Seq));
            cursor = page.NextBefore;
        } while (cursor is not null);
        Assert.Equal(Enumerable.Range(1, 13).Reverse().Select(i => (long)i), seen);

        var topups = await wallet.GetLedger(new LedgerQuery(Kinds: [LedgerEntryKind.Topup], Limit: 100));
        Assert.Equal(7, topups!.Items.Count);
        Assert.All(topups.Items, e => Assert.Equal(LedgerEntryKind.Topup, e.Kind));
        var future = await wallet.GetLedger(new LedgerQuery(From: cluster.Clock.GetUtcNow().AddMinutes(1)));
        Assert.Empty(future!.Items);
    }
}
