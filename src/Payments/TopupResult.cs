namespace Qubrid.Payments;

/// <summary>A settled top-up, as the API answers it.</summary>
public sealed record TopupResult(string PaymentId, decimal Amount, string Status, long? LotId);
