namespace Qubrid.Payments;

/// <summary>What a top-up request came to; the endpoint says it in HTTP. Payment fields are set once a payment exists.</summary>
public sealed record TopupOutcome(TopupOutcomeKind Kind, string? PaymentId = null, Micros Amount = default, long? LotId = null, string? Failure = null)
{
    public static TopupOutcome WalletNotFound { get; } = new(TopupOutcomeKind.WalletNotFound);

    public static TopupOutcome IdempotencyConflict { get; } = new(TopupOutcomeKind.IdempotencyConflict);
}
