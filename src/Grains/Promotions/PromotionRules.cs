using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Qubrid.Promotions;

/// <summary>What a redemption decides before anything is written: refuse with a status, or reserve a lot expiring at <c>LotExpiresAt</c>.</summary>
public readonly record struct RedemptionDecision(RedemptionStatus? Refusal, DateTimeOffset LotExpiresAt, string? Detail)
{
    public static RedemptionDecision Refuse(RedemptionStatus status, string detail) => new(status, default, detail);
    public static RedemptionDecision Grant(DateTimeOffset lotExpiresAt) => new(null, lotExpiresAt, null);
}

/// <summary>Validation of promotions, generated codes and the redemption decision. Pure: no clock, no I/O.</summary>
public static partial class PromotionRules
{
    /// <summary>Generated codes: no 0/O, 1/I/L, so a code read aloud or copied from paper is not mistaken.</summary>
    public const string CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    public const int GeneratedCodeLength = 12;
    public const int MaxCodeCount = 10_000;
    public const int MaxRedemptionsLimit = 10_000_000;
    public const int MaxLotValidDays = 3_650;
    public static readonly Micros MaxAmount = Micros.FromUsd(1_000_000m);

    [GeneratedRegex("^[A-Z0-9][A-Z0-9_-]{3,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex CodePattern();

    /// <summary>Codes are case-insensitive: stored and looked up trimmed and upper-case.</summary>
    public static string Normalize(string code) => code.Trim().ToUpperInvariant();

    public static bool IsWellFormed(string normalized) => CodePattern().IsMatch(normalized);

    // R-PROMO-2: generated single-use codes are unguessable: 12 characters drawn by the system's CSPRNG from 31 unambiguous ones.
    public static string GenerateCode() => RandomNumberGenerator.GetString(CodeAlphabet, GeneratedCodeLength);

    // R-PROMO-1: one shared code xor codeCount generated ones; one lot expiry; a positive exact amount; a window in order; caps bounded.
    /// <summary>The error code and message for a spec that must not be written, or null when it is valid at <paramref name="now"/>.</summary>
    public static (string Code, string Detail)? Validate(PromotionSpec spec, DateTimeOffset now)
    {
        if (!spec.Amount.IsPositive || spec.Amount > MaxAmount)
            return (ErrorCodes.InvalidAmount, $"A promotion's amount must be more than 0 and at most {MaxAmount.ToUsd():0} USD.");
        if ((spec.Code is null) == (spec.CodeCount is null))
            return (ErrorCodes.InvalidRequest, "Give exactly one of 'code' (one shared code) or 'codeCount' (generated single-use codes).");
        if (spec.Code is { } code && !IsWellFormed(Normalize(code)))
            return (ErrorCodes.InvalidRequest, "A code is 4–32 letters, digits, '-' or '_', starting with a letter or digit.");
        if (spec.CodeCount is { } count && count is < 1 or > MaxCodeCount)
            return (ErrorCodes.InvalidRequest, $"'codeCount' must be 1–{MaxCodeCount}.");
        if ((spec.LotExpiresAt is null) == (spec.LotValidDays is null))
            return (ErrorCodes.InvalidExpiry, "Give exactly one of 'lotExpiresAt' or 'lotValidDays': promotional credits always expire.");
        if (spec.LotValidDays is { } days && days is < 1 or > MaxLotValidDays)
            return (ErrorCodes.InvalidExpiry, $"'lotValidDays' must be 1–{MaxLotValidDays}.");
        if (spec.LotExpiresAt is { } lotExpiresAt && lotExpiresAt <= now)
            return (ErrorCodes.InvalidExpiry, "'lotExpiresAt' must be in the future.");
        if (spec.StartsAt is { } s && spec.EndsAt is { } e && e <= s)
            return (ErrorCodes.InvalidRequest, "'endsAt' must be after 'startsAt'.");
        if (spec.EndsAt is { } ends && ends <= now)
            return (ErrorCodes.InvalidRequest, "'endsAt' must be in the future.");
        if (spec.LotExpiresAt is { } lotEnd && spec.StartsAt is { } starts && lotEnd <= starts)
            return (ErrorCodes.InvalidExpiry, "'lotExpiresAt' must be after 'startsAt'.");
        if (spec.MaxRedemptions is { } max && max is < 1 or > MaxRedemptionsLimit)
            return (ErrorCodes.InvalidRequest, $"'maxRedemptions' must be 1–{MaxRedemptionsLimit}.");
        return null;
    }

    /// <summary>The number of redemptions the promotion can ever accept: its cap, and one per generated code.</summary>
    public static int? EffectiveCap(PromotionView p) => (p.MaxRedemptions, p.CodeCount) switch
    {
        (int max, int codes) => Math.Min(max, codes),
        (int max, null) => max,
        (null, int codes) => codes,
        _ => null,
    };

    // R-PROMO-3: disabled or outside [startsAt, endsAt) is promotion_ended; the cap reached (or a single-use code used by
    // another wallet) is promotion_exhausted; newWalletsOnly refuses a wallet created before the promotion.
    /// <summary>
    /// Decides a redemption by a wallet that has none of this promotion yet. <paramref name="codeUsedByOther"/>: the code is
    /// single-use and another wallet has it. The caller checks "already redeemed" first and reserves what this grants.
    /// </summary>
    public static RedemptionDecision Decide(PromotionView p, DateTimeOffset now, DateTimeOffset walletCreatedAt, bool codeUsedByOther)
    {
        if (p.Disabled) return RedemptionDecision.Refuse(RedemptionStatus.Ended, "This promotion has been disabled.");
        if (p.StartsAt is { } starts && now < starts)
            return RedemptionDecision.Refuse(RedemptionStatus.Ended, $"This promotion starts at {starts:yyyy-MM-ddTHH:mm:ssZ}.");
        if (p.EndsAt is { } ends && now >= ends) return RedemptionDecision.Refuse(RedemptionStatus.Ended, "This promotion has ended.");
        var lotExpiresAt = p.LotExpiresAt ?? now.AddDays(p.LotValidDays ?? 0);
        if (lotExpiresAt <= now) return RedemptionDecision.Refuse(RedemptionStatus.Ended, "This promotion's credits have expired.");
        if (codeUsedByOther) return RedemptionDecision.Refuse(RedemptionStatus.Exhausted, "This code has already been used.");
        if (EffectiveCap(p) is { } cap && p.Redemptions >= cap)
            return RedemptionDecision.Refuse(RedemptionStatus.Exhausted, "This promotion has been fully redeemed.");
        if (p.NewWalletsOnly && walletCreatedAt <= p.CreatedAt)
            return RedemptionDecision.Refuse(RedemptionStatus.NotEligible, "This promotion is for wallets created after it started.");
        return RedemptionDecision.Grant(lotExpiresAt);
    }
}
