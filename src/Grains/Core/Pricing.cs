namespace Qubrid.Core;

/// <summary>Prices of inference queries. Pure and exact.</summary>
public static class Pricing
{
    public const long MaxTokens = 100_000_000;

    // R-INF-1: exact micro-credits, unrounded.
    /// <summary>
    /// One USD per million tokens is one micro-credit per token, so the exact cost in micro-credits is
    /// tokens × price, unrounded: the wallet rounds cumulatively per model (<see cref="WalletBook.ChargeInference"/>).
    /// </summary>
    public static decimal InferenceCostMicros(ModelPrice price, long inputTokens, long outputTokens) =>
        inputTokens * price.InputUsdPerMillion + outputTokens * price.OutputUsdPerMillion;
}
