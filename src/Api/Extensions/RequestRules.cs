using Microsoft.AspNetCore.Http.HttpResults;

namespace Qubrid.Api.Extensions;

/// <summary>Checks shared by the money endpoints.</summary>
public static class ApiRequest
{
    public const string IdempotencyHeader = "Idempotency-Key";

    /// <summary>The Idempotency-Key header, or the problem to answer when it is missing or malformed.</summary>
    public static ProblemHttpResult? IdempotencyKey(HttpRequest request, out string key)
    {
        key = request.Headers[IdempotencyHeader].ToString();
        if (string.IsNullOrWhiteSpace(key))
            return ApiProblems.Problem(ErrorCodes.IdempotencyKeyRequired, $"Money calls need an '{IdempotencyHeader}' header (e.g. a UUID).");
        if (key.Length > Limits.MaxIdempotencyKeyLength || key.Any(char.IsControl))
            return ApiProblems.Invalid($"The {IdempotencyHeader} header must be 1–{Limits.MaxIdempotencyKeyLength} printable characters.");
        return null;
    }

    // R-INPUT-2: zero, negative, too large or more than 6 decimals is invalid_amount.
    /// <summary>A positive USD amount with at most 6 decimals and at most <paramref name="maxUsd"/>.</summary>
    public static ProblemHttpResult? Amount(decimal? usd, decimal maxUsd, out Micros amount)
    {
        amount = Micros.Zero;
        if (usd is not { } value) return ApiProblems.Problem(ErrorCodes.InvalidAmount, "An amount (USD) is required.");
        if (value <= 0) return ApiProblems.Problem(ErrorCodes.InvalidAmount, "The amount must be greater than zero.");
        if (value > maxUsd) return ApiProblems.Problem(ErrorCodes.InvalidAmount, $"The amount must not exceed {maxUsd} USD.");
        if (!Micros.TryFromUsd(value, out amount)) return ApiProblems.Problem(ErrorCodes.InvalidAmount, "Amounts have at most 6 decimals.");
        return null;
    }

    public static ProblemHttpResult? Reason(string? reason, out string value)
    {
        value = reason?.Trim() ?? "";
        if (value.Length == 0) return ApiProblems.Invalid("A reason is required.");
        if (value.Length > 256 || value.Any(char.IsControl)) return ApiProblems.Invalid("The reason must be at most 256 printable characters.");
        return null;
    }
}
