using System.Globalization;

namespace Qubrid.Core;

/// <summary>Voids a promotional lot's remainder (<see cref="WalletBook.VoidLot"/>); a void of 0 is recorded under its key too.</summary>
public sealed record VoidLotOperation(VoidLotRequest Request) : WalletOperation
{
    public override string Name => "VoidLot";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Digest("void-lot", Request.LotId.ToString(CultureInfo.InvariantCulture), Request.Reason);
}

/// <summary>Reserves a refund to the card and writes its pending row (<see cref="WalletBook.ReserveCardRefund"/>).</summary>
public sealed record ReserveCardRefundOperation(CardRefundRequest Request) : WalletOperation
{
    public override string Name => "ReserveCardRefund";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } =
        RequestRules.Digest("card-refund", Request.PaymentId, Request.Amount.Value.ToString(CultureInfo.InvariantCulture), Request.Reason);
}

/// <summary>How the gateway's refund ended; idempotent by the refund's state, not by a key.</summary>
public sealed record SettleCardRefundOperation(string RefundId, bool Succeeded, string? Failure) : WalletOperation
{
    public override string Name => "SettleCardRefund";
}
