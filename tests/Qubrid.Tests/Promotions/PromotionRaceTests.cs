using Orleans.Runtime;
using Qubrid.Promotions;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Qubrid.Tests.Promotions;

/// <summary>
/// The cap of a promotion under a rush: 500 wallets redeem one shared code capped at 100 at once, on 2 silos, and once
/// more with a silo killed in the middle. Exactly 100 wallets get a lot, each one lot and one grant entry, and the count
/// says 100; nothing is left pending once the calls the kill failed have been retried with their keys.
/// </summary>
public class PromotionRaceTests(ITestOutputHelper output)
{
    private const int Wallets = 500, Cap = 100;

    [Fact]
    [Trait("Rule", "R-PROMO-4")]
    [Trait("Rule", "R-PROMO-5")]
    public async Task Five_hundred_concurrent_redemptions_of_a_code_capped_at_100_grant_exactly_100_lots()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2);
        var (promotionId, code) = await CreatePromotionAsync(cluster);
        var wallets = await CreateWalletsAsync(cluster, "rush");

        var results = await Task.WhenAll(wallets.Select(w => Task.Run(() =>
            cluster.Grains.GetGrain<IPromotionDirectoryGrain>(0).Redeem(new RedemptionRequest(w, code, $"rush-{w}")))));

        await AssertExactlyCapAsync(cluster, promotionId, results);
    }

    [Fact]
    [Trait("Rule", "R-PROMO-4")]
    public async Task The_cap_stays_exact_when_the_promotions_silo_dies_between_a_reservation_and_its_grant()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2);
        var (promotionId, code) = await CreatePromotionAsync(cluster);
        var wallets = await CreateWalletsAsync(cluster, "kill");
        var kill = new SiloKill();
        List<Task<RedemptionResult>> running;

        // A call the kill failed is run again with its key once the cluster has healed: the key finds its reservation.
        Task<RedemptionResult> RedeemAcrossTheKill(string wallet) => kill.RetryAcrossAsync(() => cluster.Grains.GetGrain<IPromotionDirectoryGrain>(0)
            .Redeem(new RedemptionRequest(wallet, code, $"kill-{wallet}")), TimeSpan.FromSeconds(120));

        var source = PromotionGrain.SourceOf(promotionId);
        long pendingAtKill;
        // Installed before the rush: the 31st grant's ledger insert waits inside PostgreSQL (the promotion's grain grants
        // one at a time, so 30 are committed by then): its reservation is committed, the promotion's grain waits on the
        // wallet. Then the silo that hosts the promotion dies, and only then does the grant go through.
        await using (var barrier = await InsertBarrier.HoldAsync(cluster.Db, "test_hold_promotion_grant", "qubrid_ledger",
                         $"NEW.kind = 'grant' AND NEW.reference = '{source}' AND (SELECT count(*) FROM qubrid_ledger WHERE kind = 'grant' AND reference = '{source}') >= 30",
                         BarrierLock))
        {
            running = wallets.Select(w => Task.Run(() => RedeemAcrossTheKill(w))).ToList();
            await WaitUntilAnInsertWaitsAsync(cluster, BarrierLock);
            var host = await cluster.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(cluster.Grains.GetGrain<IPromotionGrain>(promotionId));
            var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(host));
            pendingAtKill = await TestDatabase.ScalarAsync(cluster.Db,
                "SELECT count(*) FROM qubrid_promotion_redemptions WHERE promotion_id = $1 AND state = 'pending'", promotionId);
            await kill.KillAsync(cluster.Cluster, victim);
            await barrier.ReleaseAsync();
        }
        var results = await Task.WhenAll(running);

        // Whatever the kill left pending is completed by the promotion's next activation (any call reaches it).
        await cluster.Grains.GetGrain<IPromotionGrain>(promotionId).Get();
        await AssertExactlyCapAsync(cluster, promotionId, results);
        Assert.True(pendingAtKill >= 1, "no reservation was pending when the silo died");
        Assert.True(kill.Retried >= 1, "no call was cut off by the kill");
        output.WriteLine($"silo kill: {pendingAtKill} reservation(s) pending when the promotion's silo died; {kill.Retried} calls retried with their keys, "
            + $"healed {kill.HealingTime.TotalSeconds:0.0} s after the kill");
    }

    private const long BarrierLock = 604_060; // below 2^31: pg_locks shows it whole in objid

    /// <summary>Until an insert waits on the barrier's lock (a bounded poll of pg_locks: the database's own signal).</summary>
    private static async Task WaitUntilAnInsertWaitsAsync(BillingCluster cluster, long lockId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (await TestDatabase.ScalarAsync(cluster.Db,
                   $"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = {lockId}") == 0)
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    private static async Task<(string Id, string Code)> CreatePromotionAsync(BillingCluster cluster)
    {
        var id = $"promo_race_{Guid.NewGuid():N}"[..30];
        var code = "RUSH" + Guid.NewGuid().ToString("N")[..12].ToUpperInvariant();
        var created = await cluster.Grains.GetGrain<IPromotionGrain>(id).Create(
            new PromotionSpec(code, null, Micros.FromUsd(2.5m), null, 30, null, null, Cap, false));
        Assert.True(created.Promotion is not null, created.Detail);
        return (id, code);
    }

    private static async Task<List<string>> CreateWalletsAsync(BillingCluster cluster, string purpose)
    {
        var ids = Enumerable.Range(0, Wallets).Select(i => $"{purpose}-{i}-{Guid.NewGuid():N}").ToList();
        foreach (var chunk in ids.Chunk(50)) await Task.WhenAll(chunk.Select(id => cluster.Wallet(id).Create()));
        return ids;
    }

    private async Task AssertExactlyCapAsync(BillingCluster cluster, string promotionId, RedemptionResult[] results)
    {
        var redeemed = results.Where(r => r.Succeeded).ToList();
        output.WriteLine("answers: " + string.Join(", ", results.GroupBy(r => r.Status).Select(g => $"{g.Key} {g.Count()} ({g.First().Detail})")));
        Assert.Equal(Cap, redeemed.Count);
        Assert.All(results.Where(r => !r.Succeeded), r => Assert.Equal(RedemptionStatus.Exhausted, r.Status));
        var source = PromotionGrain.SourceOf(promotionId);
        long lots = await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_lots WHERE source = $1", source);
        long entries = await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'grant' AND reference = $1", source);
        long walletsWithLot = await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(DISTINCT wallet_id) FROM qubrid_lots WHERE source = $1", source);
        long done = await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_promotion_redemptions WHERE promotion_id = $1 AND state = 'done'", promotionId);
        long pending = await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_promotion_redemptions WHERE promotion_id = $1 AND state = 'pending'", promotionId);
        var promotion = await cluster.Grains.GetGrain<IPromotionGrain>(promotionId).Get();
        output.WriteLine($"{results.Length} redemptions of a code capped at {Cap}: {redeemed.Count} granted, {lots} lots, {entries} grant entries, "
            + $"count {promotion!.Redemptions}, {done} done, {pending} pending");
        Assert.Equal(Cap, lots);
        Assert.Equal(Cap, entries);
        Assert.Equal(Cap, walletsWithLot);
        Assert.Equal(Cap, promotion.Redemptions);
        Assert.Equal(Cap, done);
        Assert.Equal(0, pending);
        Assert.True((await Reconciler.RunAsync(cluster.Db)).IsClean);
    }
}
