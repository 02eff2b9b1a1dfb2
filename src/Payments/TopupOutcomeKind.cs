namespace Qubrid.Payments;

/// <summary>How a top-up request ended.</summary>
public enum TopupOutcomeKind { Succeeded, WalletNotFound, IdempotencyConflict, Declined, Failed }
