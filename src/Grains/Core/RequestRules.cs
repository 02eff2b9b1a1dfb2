using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Qubrid.Core;

/// <summary>Validation and fingerprints of wallet requests. Pure.</summary>
public static class RequestRules
{
    public const int MaxKeyLength = Limits.MaxIdempotencyKeyLength;
    public const int MaxReferenceLength = Limits.MaxReferenceLength;

    // R-IDEM-1: 1–128 printable characters; missing is idempotency_key_required.
    public static WalletOpResult? ValidateKey(string? key)
    {
        if (string.IsNullOrWhiteSpace(key))
            return WalletOpResult.Invalid(ErrorCodes.IdempotencyKeyRequired, "An idempotency key is required.");
        if (key.Length > MaxKeyLength || key.Any(char.IsControl))
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"The idempotency key must be 1–{MaxKeyLength} printable characters.");
        return null;
    }

    public static WalletOpResult? ValidateAmount(Micros amount)
    {
        if (!amount.IsPositive)
            return WalletOpResult.Invalid(ErrorCodes.InvalidAmount, "The amount must be greater than zero.");
        if (amount > Micros.MaxOperation)
            return WalletOpResult.Invalid(ErrorCodes.InvalidAmount, $"The amount must not exceed {Micros.MaxOperation.ToUsd():0} USD.");
        return null;
    }

    private static WalletOpResult? ValidateReference(string? reference, bool required)
    {
        if (reference is null || (required && string.IsNullOrWhiteSpace(reference)))
            return required ? WalletOpResult.Invalid(ErrorCodes.InvalidRequest, "A reason is required.") : null;
        if (reference.Length > MaxReferenceLength || reference.Any(c => char.IsControl(c)))
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"The reference must be at most {MaxReferenceLength} printable characters.");
        return null;
    }

    // R-LOT-1: grants make promotional lots that expire; top-ups, adjustments and refunds purchased lots that never do.
    /// <summary>
    /// Which kind of lot a credit creates, or an error when the kind cannot add credits. Without <paramref name="now"/> (before
    /// the key is looked up) a grant's expiry is not compared with the clock: a replay of a known key answers its recorded
    /// outcome even after the lot expired; the batch checks the expiry on the new-key path only.
    /// </summary>
    public static WalletOpResult? ValidateCredit(CreditRequest request, DateTimeOffset? now, out LotKind lotKind)
    {
        lotKind = LotKind.Purchased;
        var error = ValidateKey(request.IdempotencyKey) ?? ValidateAmount(request.Amount)
            ?? ValidateReference(request.Reference, required: request.Kind is LedgerEntryKind.Adjustment or LedgerEntryKind.Grant);
        if (error is not null) return error;
        if (request.Scope is not null && ValidateScope(request) is { } badScope) return badScope;
        switch (request.Kind)
        {
            case LedgerEntryKind.Grant:
                if (request.ExpiresAt is not { } at || (now is { } clock && at <= clock))
                    return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, "Promotional credits need an expiry in the future.");
                lotKind = LotKind.Promotional;
                return null;
            case LedgerEntryKind.Topup or LedgerEntryKind.Adjustment or LedgerEntryKind.Refund:
                if (request.ExpiresAt is not null)
                    return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, "Only promotional credits expire.");
                return null;
            default:
                return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"'{request.Kind.ToWire()}' does not add credits.");
        }
    }

    /// <summary>
    /// Only a grant is scoped, and its scope arrives as <see cref="CreditScopes.Normalize"/> made it (the caller checked the
    /// names against the catalog; here the shape, so that the stored form and the fingerprint are canonical).
    /// </summary>
    private static WalletOpResult? ValidateScope(CreditRequest request)
    {
        if (request.Kind != LedgerEntryKind.Grant)
            return WalletOpResult.Invalid(ErrorCodes.InvalidScope, "Only promotional credits (a grant) may be scoped.");
        var check = CreditScopes.Normalize(request.Scope, null, null);
        if (!check.Valid) return WalletOpResult.Invalid(check.ErrorCode!, check.Detail!);
        return check.Scope == request.Scope ? null
            : WalletOpResult.Invalid(ErrorCodes.InvalidScope, "The scope's lists must be distinct names in ordinal order (CreditScopes.Normalize).");
    }

    public static WalletOpResult? ValidateDebit(DebitRequest request)
    {
        var error = ValidateKey(request.IdempotencyKey) ?? ValidateAmount(request.Amount)
            ?? ValidateReference(request.Reference, required: request.Kind == LedgerEntryKind.Adjustment);
        if (error is not null) return error;
        return request.Kind is LedgerEntryKind.SessionCharge or LedgerEntryKind.InferenceCharge
            or LedgerEntryKind.PremiumAccess or LedgerEntryKind.Adjustment
            ? null
            : WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"'{request.Kind.ToWire()}' does not take credits.");
    }

    /// <summary>An inference query: its key, a model with a price (null when the price list has none), token counts in bounds.</summary>
    public static WalletOpResult? ValidateInference(InferenceChargeRequest request, ModelPrice? price)
    {
        if (ValidateKey(request.IdempotencyKey) is { } badKey) return badKey;
        if (price is null) return WalletOpResult.Invalid(ErrorCodes.UnknownModel, $"Unknown model '{request.Model}'.");
        if (request.InputTokens < 0 || request.OutputTokens < 0 || request.InputTokens > Pricing.MaxTokens || request.OutputTokens > Pricing.MaxTokens
            || request.InputTokens + request.OutputTokens == 0)
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"Token counts must be 0–{Pricing.MaxTokens} and not both zero.");
        return null;
    }

    public static WalletOpResult? ValidateHold(HoldRequest request)
    {
        if (ValidateKey(request.IdempotencyKey) is { } badKey) return badKey;
        if (!request.Amount.IsPositive) return WalletOpResult.Invalid(ErrorCodes.InvalidAmount, "A hold's amount must be positive.");
        // A hold's reference is at most 128 printable characters (R-INPUT-3). The one check: the API passes the trimmed
        // reference on and answers this result.
        if (request.Reference is null || request.Reference.Length > Limits.MaxClientReferenceLength || request.Reference.Any(char.IsControl))
            return WalletOpResult.Invalid(ErrorCodes.InvalidRequest, $"The reference must be at most {Limits.MaxClientReferenceLength} printable characters.");
        return null;
    }

    public static WalletOpResult? ValidateSettle(HoldSettleRequest request)
    {
        if (ValidateKey(request.IdempotencyKey) is { } badKey) return badKey;
        return request.Amount.IsNegative ? WalletOpResult.Invalid(ErrorCodes.InvalidAmount, "A capture's amount must not be negative.") : null;
    }

    // R-IDEM-2: the fingerprint tells kinds of calls apart under one (wallet, key).
    /// <summary>A stable digest of everything that makes two requests "the same request".</summary>
    /// <summary>A scope is part of a grant's request; an unscoped credit keeps the digest it always had.</summary>
    public static string Fingerprint(CreditRequest r) => r.Scope is null
        ? Digest("credit", r.Kind.ToWire(), r.Amount.Value.ToString(CultureInfo.InvariantCulture), r.Reference, r.ExpiresAt?.UtcTicks.ToString(CultureInfo.InvariantCulture))
        : Digest("credit", r.Kind.ToWire(), r.Amount.Value.ToString(CultureInfo.InvariantCulture), r.Reference, r.ExpiresAt?.UtcTicks.ToString(CultureInfo.InvariantCulture),
            CreditScopes.ToJson(r.Scope));

    public static string Fingerprint(DebitRequest r) =>
        Digest(["debit", r.Kind.ToWire(), r.Amount.Value.ToString(CultureInfo.InvariantCulture), r.Reference, r.AllowPartial ? "partial" : "whole",
            r.Usage?.SessionId, r.Usage?.InstanceType, r.Usage?.Model, r.Usage?.Workload, .. Whom(r.Usage?.MemberId, r.Usage?.ProjectId)]);

    public static string Fingerprint(InferenceChargeRequest r) =>
        Digest(["inference", r.Model, r.InputTokens.ToString(CultureInfo.InvariantCulture), r.OutputTokens.ToString(CultureInfo.InvariantCulture),
            r.HoldNumber?.ToString(CultureInfo.InvariantCulture), .. Whom(r.MemberId, r.ProjectId)]);

    /// <summary>Whom usage was for, in a fingerprint only when named: a request without them keeps the fingerprint it always had.</summary>
    private static string?[] Whom(string? memberId, string? projectId) => memberId is null && projectId is null ? [] : ["whom", memberId, projectId];

    public static string Fingerprint(HoldRequest r) =>
        Digest("hold", r.Amount.Value.ToString(CultureInfo.InvariantCulture), r.ExpiresAt.UtcTicks.ToString(CultureInfo.InvariantCulture), r.Reference);

    public static string Fingerprint(HoldSettleRequest r) =>
        Digest(r.Void ? "void" : "capture", r.HoldNumber.ToString(CultureInfo.InvariantCulture), r.Void ? null : r.Amount.Value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Each field length-prefixed (null distinct from empty), so no two different requests share a canonical form.</summary>
    internal static string Digest(params string?[] fields)
    {
        var canonical = new StringBuilder();
        foreach (var f in fields) canonical.Append(f is null ? "-1:" : $"{f.Length}:{f}").Append(';');
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())), 0, 16);
    }
}
