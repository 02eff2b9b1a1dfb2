using Microsoft.Extensions.DependencyInjection;
using Qubrid.Core;
using Qubrid.Refunds;

namespace Qubrid;

/// <summary>The wallet's lot corrections (<see cref="IWalletLotsGrain"/>): voids of grants and refunds to the card, decided in its batches.</summary>
public sealed partial class WalletGrain : IWalletLotsGrain
{
    private RefundStore RefundStore => ServiceProvider.GetRequiredService<RefundStore>();

    public async Task<LotVoidResult> VoidLot(VoidLotRequest request)
    {
        if (ValidateCorrection(request.IdempotencyKey, request.Reason) is { } invalid) return new LotVoidResult(invalid, request.LotId, Micros.Zero, Micros.Zero);
        if (Book is not null && Book.FindLot(request.LotId) is null)
        {
            // A lot the book no longer holds is closed (spent, expired, voided) or never was: the store says which.
            var kind = await RefundStore.FindLotKindAsync(WalletId, request.LotId);
            if (kind is null)
                return new LotVoidResult(WalletOpResult.Invalid(ErrorCodes.LotNotFound, $"Wallet '{WalletId}' has no lot {request.LotId}."), request.LotId, Micros.Zero, Micros.Zero);
        }
        var result = (await Enqueue(new VoidLotOperation(request))).Wallet!;
        var voided = result.Succeeded ? result.Amount : Micros.Zero;
        return new LotVoidResult(result, request.LotId, voided, Book?.RemainingOf(request.LotId) ?? Micros.Zero);
    }

    public async Task<CardRefundResult> ReserveCardRefund(CardRefundRequest request)
    {
        if ((ValidateCorrection(request.IdempotencyKey, request.Reason) ?? RequestRules.ValidateAmount(request.Amount)) is { } invalid)
            return new CardRefundResult(invalid, null);
        if (string.IsNullOrEmpty(request.RefundId) || string.IsNullOrEmpty(request.PaymentId))
            return new CardRefundResult(WalletOpResult.Invalid(ErrorCodes.InvalidRequest, "A refund names its payment and its refund id."), null);
        var result = (await Enqueue(new ReserveCardRefundOperation(request))).Wallet!;
        return new CardRefundResult(result, result.Succeeded ? await RefundStore.FindRefundAsync(request.RefundId) : null);
    }

    public async Task<CardRefundResult> SettleCardRefund(string refundId, bool succeeded, string? failure)
    {
        var result = (await Enqueue(new SettleCardRefundOperation(refundId, succeeded, failure))).Wallet!;
        return new CardRefundResult(result, await RefundStore.FindRefundAsync(refundId));
    }

    /// <summary>A correction's key and its reason (required, at most a reference's length).</summary>
    private static WalletOpResult? ValidateCorrection(string key, string reason)
    {
        if (string.IsNullOrWhiteSpace(key)) return WalletOpResult.Invalid(ErrorCodes.IdempotencyKeyRequired, "An idempotency key is required.");
        if (string.IsNullOrWhiteSpace(reason) || reason.Length > RequestRules.MaxReferenceLength || reason.Any(char.IsControl))
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"A reason of 1–{RequestRules.MaxReferenceLength} printable characters is required.");
        return null;
    }
}
