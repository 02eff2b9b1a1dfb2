using Orleans.Concurrency;

namespace Qubrid.Promotions;

/// <summary>
/// The way in to a promotion: replays a redemption's idempotency key from its record, refuses unknown codes (recorded, so
/// a replay answers the same), and hands a known code to its promotion's grain, which decides. Stateless.
/// </summary>
[StatelessWorker]
public sealed class PromotionDirectoryGrain(PromotionStore store, BillingClock clock) : Grain, IPromotionDirectoryGrain
{
    public const int MaxListLimit = 500;

    // R-PROMO-6: the same key with the same code answers the first answer (refusals included); with another code, idempotency_conflict.
    public async Task<RedemptionResult> Redeem(RedemptionRequest request)
    {
        request = request with { Code = PromotionRules.Normalize(request.Code) };
        if (await store.ReadKeyAsync(request.WalletId, request.IdempotencyKey) is { } first)
        {
            if (first.Code != request.Code)
                return new RedemptionResult(RedemptionStatus.IdempotencyConflict,
                    Detail: $"Idempotency key '{request.IdempotencyKey}' was used to redeem another code.");
            if (first.Status == RedemptionStatus.Redeemed)
                return await GrainFactory.GetGrain<IPromotionGrain>(first.PromotionId!).Redeem(request); // finds its reservation: a replay
            return new RedemptionResult(first.Status, first.PromotionId, Replayed: true, Detail: first.Detail);
        }
        if (await store.WalletCreatedAtAsync(request.WalletId) is null)
            return new RedemptionResult(RedemptionStatus.WalletNotFound, Detail: $"Wallet '{request.WalletId}' does not exist.");
        var code = PromotionRules.IsWellFormed(request.Code) ? await store.FindCodeAsync(request.Code) : null;
        if (code is null)
        {
            var refusal = new RedemptionResult(RedemptionStatus.PromotionNotFound, Detail: "No promotion has this code.");
            await store.RecordRefusalAsync(request, refusal, clock.UtcNow);
            return refusal;
        }
        return await GrainFactory.GetGrain<IPromotionGrain>(code.PromotionId).Redeem(request);
    }

    public Task<IReadOnlyList<PromotionView>> List(int limit) => store.ListAsync(Math.Clamp(limit, 1, MaxListLimit));
}
