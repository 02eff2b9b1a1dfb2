namespace Qubrid.Payments;

/// <summary>What the card network did with one charge.</summary>
public enum ChargeOutcome { Succeeded, Declined, Failed }
