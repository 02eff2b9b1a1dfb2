using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>
/// A wallet's lot corrections: voiding a grant and refunding a purchase to the card. The wallet grain implements it beside
/// <see cref="IWalletGrain"/> (same key, same activation), so that the wallet's contract need not change for them.
/// </summary>
[Alias("qubrid.IWalletLotsGrain")]
[Version(0)]
public interface IWalletLotsGrain : IGrainWithStringKey
{
    /// <summary>Voids what remains of a promotional lot, but never what holds and running sessions need. Idempotent by key.</summary>
    [Alias("VoidLot")] Task<LotVoidResult> VoidLot(VoidLotRequest request);

    /// <summary>Reserves a refund to the card on the lot a payment bought and writes its pending row. Idempotent by key.</summary>
    [Alias("ReserveCardRefund")] Task<CardRefundResult> ReserveCardRefund(CardRefundRequest request);

    /// <summary>Records how the gateway's refund ended: the card_refund entry, or the release of the reservation. Repeats change nothing.</summary>
    [Alias("SettleCardRefund")] Task<CardRefundResult> SettleCardRefund(string refundId, bool succeeded, string? failure);
}

/// <summary>Refunds to the card of one payment (key: the payment id): reserve, gateway, entry; resumed by a reminder after a crash.</summary>
[Alias("qubrid.ICardRefundGrain")]
[Version(0)]
public interface ICardRefundGrain : IGrainWithStringKey
{
    [Alias("Refund")] Task<CardRefundResult> Refund(CardRefundRequest request);
}

/// <summary>Voids a promotional lot's remainder (admin). The key is scoped to lot voids by the caller.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.VoidLotRequest")]
public sealed record VoidLotRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] long LotId,
    [property: Id(2)] string Reason);

/// <summary>A void's answer: what it took, and what the lot still holds (kept because holds or running sessions need it).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.LotVoidResult")]
public sealed record LotVoidResult(
    [property: Id(0)] WalletOpResult Operation,
    [property: Id(1)] long LotId,
    [property: Id(2)] Micros Voided,
    [property: Id(3)] Micros Remaining);

/// <summary>A refund of a payment to its card. <c>RefundId</c> derives from the payment and the key (<see cref="CardRefunds.IdOf"/>).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CardRefundRequest")]
public sealed record CardRefundRequest(
    [property: Id(0)] string IdempotencyKey,
    [property: Id(1)] string PaymentId,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] string Reason,
    [property: Id(4)] long LotId = 0,
    [property: Id(5)] string RefundId = "");

/// <summary>Where a refund to the card stands.</summary>
public enum CardRefundStatus : byte
{
    Pending = 1,
    Succeeded = 2,
    Failed = 3,
}

/// <summary>A refund to the card as stored.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CardRefundView")]
public sealed record CardRefundView(
    [property: Id(0)] string RefundId,
    [property: Id(1)] string WalletId,
    [property: Id(2)] string PaymentId,
    [property: Id(3)] long LotId,
    [property: Id(4)] Micros Amount,
    [property: Id(5)] string Reason,
    [property: Id(6)] CardRefundStatus Status,
    [property: Id(7)] DateTimeOffset CreatedAt,
    [property: Id(8)] long? Seq,
    [property: Id(9)] string? CreditNote,
    [property: Id(10)] string? Failure);

/// <summary>The answer to a refund call: the operation's status and, when it got that far, the refund.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CardRefundResult")]
public sealed record CardRefundResult([property: Id(0)] WalletOpResult Operation, [property: Id(1)] CardRefundView? Refund);

/// <summary>Names of refunds to the card.</summary>
public static class CardRefunds
{
    /// <summary>A refund's id: derived from the payment and the idempotency key, so a retry and a resumed run name the same refund at the gateway.</summary>
    public static string IdOf(string paymentId, string idempotencyKey)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{paymentId}\n{idempotencyKey}"));
        return "re_" + Convert.ToHexString(hash, 0, 12).ToLowerInvariant();
    }

    public static string ToWire(this CardRefundStatus status) => status switch
    {
        CardRefundStatus.Pending => "pending",
        CardRefundStatus.Succeeded => "succeeded",
        CardRefundStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static CardRefundStatus ParseStatus(string wire) => wire switch
    {
        "pending" => CardRefundStatus.Pending,
        "succeeded" => CardRefundStatus.Succeeded,
        "failed" => CardRefundStatus.Failed,
        _ => throw new FormatException($"Unknown refund status '{wire}'."),
    };
}

/// <summary>Refund lists and the monthly credits report, read from the ledger's tables (stateless: any silo).</summary>
[Alias("qubrid.IRefundReportGrain")]
[Version(0)]
public interface IRefundReportGrain : IGrainWithIntegerKey
{
    /// <summary>A wallet's refunds to the card, newest first.</summary>
    [Alias("Refunds"), ReadOnly] Task<IReadOnlyList<CardRefundView>> Refunds(string walletId, int limit);

    /// <summary>The credits report of the UTC month <paramref name="year"/>-<paramref name="month"/>, over all wallets, in one snapshot.</summary>
    [Alias("CreditsReport"), ReadOnly] Task<CreditsReport> CreditsReport(int year, int month);
}

/// <summary>
/// Breakage, revenue and liability of one UTC month over all wallets, each figure a sum over the ledger: promotional credits
/// granted, consumed, expired (breakage) and voided; purchased credits bought, consumed (recognised revenue), refunded to the
/// card, and outstanding at the month's end (the liability).
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreditsReport")]
public sealed record CreditsReport(
    [property: Id(0)] int Year,
    [property: Id(1)] int Month,
    [property: Id(2)] Micros PromotionalGranted,
    [property: Id(3)] Micros PromotionalConsumed,
    [property: Id(4)] Micros PromotionalExpired,
    [property: Id(5)] Micros PromotionalVoided,
    [property: Id(6)] Micros PurchasedBought,
    [property: Id(7)] Micros PurchasedConsumed,
    [property: Id(8)] Micros PurchasedRefunded,
    [property: Id(9)] Micros PurchasedOutstanding);
