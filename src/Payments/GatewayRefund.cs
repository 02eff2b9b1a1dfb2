namespace Qubrid.Payments;

/// <summary>What the card network said about one refund.</summary>
public sealed record GatewayRefund(bool Succeeded, string Message);
