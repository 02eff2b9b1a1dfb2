using Qubrid.Promotions;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Promotions;

/// <summary>
/// A redemption whose grant was committed but whose answer was lost is completed again after the lot expired: the wallet
/// answers the recorded grant by its key whatever the expiry, and the reservation stays counted.
/// </summary>
public class PromotionReplayTests
{
    [Fact]
    [Trait("Rule", "R-PROMO-4")]
    public async Task A_committed_grant_replayed_after_its_lot_expired_answers_the_same_lot_and_stays_counted()
    {
        await using var cluster = await BillingCluster.StartAsync();
        var id = $"promo_replay_{Guid.NewGuid():N}"[..30];
        var code = "REPLAY" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        var created = await cluster.Grains.GetGrain<IPromotionGrain>(id).Create(
            new PromotionSpec(code, null, Micros.FromUsd(1m), null, 1, null, null, 10, false));
        Assert.True(created.Promotion is not null, created.Detail);
        var wallet = $"replay-{Guid.NewGuid():N}";
        await cluster.Wallet(wallet).Create();
        var request = new RedemptionRequest(wallet, code, $"replay-{wallet}");
        var first = await cluster.Grains.GetGrain<IPromotionDirectoryGrain>(0).Redeem(request);
        Assert.True(first.Succeeded, first.Detail);

        // The answer was lost before the reservation was marked done; the lot's expiry passes before the retry.
        await TestDatabase.ExecAsync(cluster.Db,
            "UPDATE qubrid_promotion_redemptions SET state = 'pending', lot_id = NULL WHERE promotion_id = $1 AND wallet_id = $2", id, wallet);
        cluster.Clock.Advance(TimeSpan.FromDays(2));

        var again = await cluster.Grains.GetGrain<IPromotionDirectoryGrain>(0).Redeem(request);

        Assert.True(again.Status == RedemptionStatus.Redeemed, $"{again.Status}: {again.Detail}");
        Assert.Equal(first.LotId, again.LotId);
        Assert.Equal(1, (await cluster.Grains.GetGrain<IPromotionGrain>(id).Get())!.Redemptions);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_promotion_redemptions WHERE promotion_id = $1 AND state = 'done'", id));
        var replay = await cluster.Wallet(wallet).Credit(new CreditRequest(PromotionGrain.GrantKey(id), LedgerEntryKind.Grant, first.Amount,
            PromotionGrain.SourceOf(id), first.ExpiresAt));
        Assert.True(replay.Succeeded && replay.Replayed, replay.Detail);
        Assert.Equal(first.LotId, replay.LotId);
    }
}
