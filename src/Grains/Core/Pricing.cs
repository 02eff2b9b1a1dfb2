namespace Qubrid.Core;

/// <summary>Prices of inference queries. Pure and exact.</summary>
public static class Pricing
{
    public const long MaxTokens = 100_000_000;

    /// <summary>
    /// One USD per million tokens is one micro-credit per token, so the cost in micro-credits is
    /// tokens × price; rounded down once, like every other proration.
    /// </summary>
    public static Micros InferenceCost(ModelPrice price, long inputTokens, long outputTokens)
    {
        decimal micros = inputTokens * price.InputUsdPerMillion + outputTokens * price.OutputUsdPerMillion;
        return new Micros((long)decimal.Floor(micros));
    }
}
