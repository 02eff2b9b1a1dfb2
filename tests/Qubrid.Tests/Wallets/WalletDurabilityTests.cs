using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

/// <summary>
/// Behaviour across time and restarts; each test owns its cluster so it can move the clock or restart it. Expiry is
/// driven by the fake clock and <see cref="IWalletGrain.ExpireDueLots"/>, except in the one test of the expiry reminder itself.
/// </summary>
public class WalletDurabilityTests
{
    private static Micros Usd(decimal usd) => Micros.FromUsd(usd);

    [Fact]
    [Trait("Rule", "R-IDEM-3")]
    public async Task Balances_entries_and_idempotency_keys_survive_a_whole_cluster_restart()
    {
        await using var cluster = await StartAsync();
        var wallet = await cluster.NewWalletAsync("restart");
        var id = wallet.GetPrimaryKeyString();
        await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Usd(20m), "pay_1"));
        var charged = await wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(1.234567m), "m"));
        var before = await wallet.GetBalance();
        var ledgerBefore = await wallet.GetLedger(new LedgerQuery(Limit: 100));

        await cluster.RestartAsync();

        wallet = cluster.Wallet(id);
        var after = await wallet.GetBalance();
        Assert.Equal(before!.Total, after!.Total);
        Assert.Equal(before.Purchased, after.Purchased);
        Assert.Equal(ledgerBefore!.Items.Select(e => (e.Seq, e.Amount, e.Kind)), (await wallet.GetLedger(new LedgerQuery(Limit: 100)))!.Items.Select(e => (e.Seq, e.Amount, e.Kind)));
        Assert.Equal(charged with { Replayed = true }, await wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(1.234567m), "m")));
        Assert.Equal(WalletOpStatus.IdempotencyConflict, (await wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(2m), "m"))).Status);
        Assert.Equal(WalletOpStatus.IdempotencyConflict, (await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Usd(21m), "pay_1"))).Status);
        Assert.Equal(3, await cluster.LedgerRowsAsync(id));
    }

    [Fact]
    public async Task A_replay_the_wallet_does_not_remember_is_caught_by_the_commit_and_the_rest_of_its_batch_still_applies()
    {
        await using var cluster = await BillingCluster.StartAsync(settings: new() { ["Qubrid:Wallet:RecentOutcomeCacheSize"] = "0" });
        var wallet = await cluster.NewWalletAsync("forgetful");
        var id = wallet.GetPrimaryKeyString();
        await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Usd(20m), "pay_1"));
        var first = await wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(1m), "m"));
        var before = (await wallet.GetBalance())!.Total;
        long rowsBefore = await cluster.LedgerRowsAsync(id);

        var results = await Task.WhenAll(
            wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(1m), "m")),
            wallet.Debit(new DebitRequest("q-2", LedgerEntryKind.InferenceCharge, Usd(2m), "m")),
            wallet.Debit(new DebitRequest("q-1", LedgerEntryKind.InferenceCharge, Usd(5m), "m")),
            wallet.Debit(new DebitRequest("q-3", LedgerEntryKind.InferenceCharge, Usd(3m), "m")));

        Assert.Equal(first with { Replayed = true }, results[0]);
        Assert.True(results[1].Succeeded && !results[1].Replayed);
        Assert.Equal(WalletOpStatus.IdempotencyConflict, results[2].Status);
        Assert.True(results[3].Succeeded && !results[3].Replayed);
        Assert.Equal(before - Usd(5m), (await wallet.GetBalance())!.Total);
        Assert.Equal(rowsBefore + 2, await cluster.LedgerRowsAsync(id));
        Assert.True((await Reconciler.RunAsync(cluster.Db)).IsClean);
    }

    [Fact]
    [Trait("Rule", "R-IDEM-4")]
    public async Task A_forgotten_replay_of_a_debit_the_balance_no_longer_covers_returns_the_first_result()
    {
        await using var cluster = await BillingCluster.StartAsync(settings: new() { ["Qubrid:Wallet:RecentOutcomeCacheSize"] = "0" });
        var wallet = await cluster.NewWalletAsync("forgot-poor");
        var id = wallet.GetPrimaryKeyString();
        var all = (await wallet.GetBalance())!.Total;
        var request = new DebitRequest("take-most", LedgerEntryKind.InferenceCharge, all - Usd(0.5m), "m");
        var first = await wallet.Debit(request);
        long rows = await cluster.LedgerRowsAsync(id);

        var replay = await wallet.Debit(request);
        var different = await wallet.Debit(request with { Amount = all });

        Assert.True(first.Succeeded);
        Assert.Equal(first with { Replayed = true }, replay);
        Assert.Equal(WalletOpStatus.IdempotencyConflict, different.Status);
        Assert.Equal(Usd(0.5m), (await wallet.GetBalance())!.Total);
        Assert.Equal(rows, await cluster.LedgerRowsAsync(id));
    }

    [Fact]
    [Trait("Rule", "R-EXP-1")]
    [Trait("Rule", "R-EXP-2")]
    public async Task A_read_just_after_expiry_excludes_the_lot_and_the_expiration_entry_removes_it()
    {
        await using var cluster = await StartAsync();
        var wallet = await cluster.NewWalletAsync("expiry");
        var now = cluster.Clock.GetUtcNow();
        await wallet.Credit(new CreditRequest("promo", LedgerEntryKind.Grant, Usd(2m), "promotion", now.AddHours(1)));
        await wallet.Credit(new CreditRequest("bought", LedgerEntryKind.Topup, Usd(1m), "pay"));
        Assert.Equal(Usd(8m), (await wallet.GetBalance())!.Total);

        // The wallet's expiry reminder fires when the clock passes the expiry: its entry is held back (a barrier in
        // PostgreSQL) so that the read below certainly comes before the entry.
        await using (var barrier = await InsertBarrier.HoldAsync(cluster.Db, "test_hold_expiration", "qubrid_ledger", "NEW.kind = 'expiration'", 719_020))
        {
            cluster.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));

            var read = await wallet.GetBalance();
            Assert.Equal(Usd(6m), read!.Total); // bonus (30 days) + purchase; the 2 USD promotion is gone
            Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'expiration'", wallet.GetPrimaryKeyString()));
        }

        await wallet.ExpireDueLots(); // what the expiry reminder calls (behind the reminder's own, if it came first: one entry either way)

        var expirations = await wallet.GetLedger(new LedgerQuery(Kinds: [LedgerEntryKind.Expiration]));
        var entry = Assert.Single(expirations!.Items);
        Assert.Equal(-Usd(2m), entry.Amount);
        Assert.Equal(Usd(6m), entry.BalanceAfter);
        Assert.Empty(await Reconcile(cluster));
    }

    [Fact]
    [Trait("Rule", "R-EXP-2")]
    public async Task An_idle_wallet_writes_its_expiration_entry_when_the_reminder_fires()
    {
        await using var cluster = await StartAsync();
        var wallet = await cluster.NewWalletAsync("idle");
        var id = wallet.GetPrimaryKeyString();
        using var ticks = ReminderTicks.Of(wallet);
        var expiresAt = cluster.Clock.GetUtcNow().AddSeconds(2);
        await wallet.Credit(new CreditRequest("soon", LedgerEntryKind.Grant, Usd(1m), "short promotion", expiresAt));
        Task<long> Expirations() => TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'expiration'", id);

        // Nothing calls the wallet from here on: only its own reminder, due at the lot's expiry, can write the entry.
        var tick = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, TimeSpan.FromSeconds(2), "the wallet's expiry reminder"));
        Assert.Equal(expiresAt.UtcDateTime, tick.Status.CurrentTickTime);
        Assert.Equal(1, await Expirations());
        Assert.Equal(Usd(5m).Value, await TestDatabase.ScalarAsync(cluster.Db, "SELECT balance FROM qubrid_wallets WHERE wallet_id = $1", id));
    }

    private static async Task<IReadOnlyList<Violation>> Reconcile(BillingCluster cluster) => (await Reconciler.RunAsync(cluster.Db)).Violations;

    private static Task<BillingCluster> StartAsync() => BillingCluster.StartAsync();
}
