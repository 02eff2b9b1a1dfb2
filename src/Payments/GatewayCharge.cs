namespace Qubrid.Payments;

/// <summary>What the card network said about one charge.</summary>
public sealed record GatewayCharge(ChargeOutcome Outcome, string Message);
