namespace Qubrid.Payments;

/// <summary>What the card network said about one charge, and the card it was made on (brand and last 4 digits, when known).</summary>
public sealed record GatewayCharge(ChargeOutcome Outcome, string Message, string? Brand = null, string? Last4 = null);
