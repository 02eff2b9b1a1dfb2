namespace Qubrid.Payments;

/// <summary>Where a top-up's payment stands. A payment only moves forward: pending → charged → succeeded, or pending → declined/failed.</summary>
public enum PaymentStatus { Pending, Charged, Succeeded, Declined, Failed }
