namespace Qubrid.Payments;

/// <summary>A card payment gateway. Charges are keyed by our payment id, so asking twice never charges twice.</summary>
public interface IPaymentGateway
{
    /// <summary>True when the token is one this gateway understands (a malformed token is a 400, not a decline).</summary>
    bool IsKnownToken(string token);

    Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct);

    /// <summary>The charge's outcome, or null if the gateway never saw this payment id.</summary>
    Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct);

    /// <summary>Makes sure a payment id that never reached the gateway can no longer be charged.</summary>
    Task VoidAsync(string paymentId, CancellationToken ct);

    /// <summary>
    /// Refunds part or all of a succeeded charge to its card. Keyed by our refund id: asking again for the same refund id
    /// answers the first outcome and never refunds twice.
    /// </summary>
    Task<GatewayRefund> RefundAsync(string refundId, string paymentId, Micros amount, CancellationToken ct);
}
