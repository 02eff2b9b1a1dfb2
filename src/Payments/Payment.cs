namespace Qubrid.Payments;

/// <summary>One row of qubrid_payments: a top-up's payment and how far it got.</summary>
internal sealed record Payment(string PaymentId, string Fingerprint, long Amount, PaymentStatus Status, long? LotId, string? Failure);
