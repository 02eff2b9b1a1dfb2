using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Problem codes of promotions and redemptions (the API maps them to HTTP in ApiProblems).</summary>
public static class PromotionErrorCodes
{
    public const string PromotionNotFound = "promotion_not_found";
    public const string AlreadyRedeemed = "already_redeemed";
    public const string PromotionExhausted = "promotion_exhausted";
    public const string PromotionEnded = "promotion_ended";
    public const string PromotionNotEligible = "promotion_not_eligible";
    public const string PromotionCodeTaken = "promotion_code_taken";
    public const string ScopeNotSupported = "scope_not_supported";
}

/// <summary>What an admin asks for: exactly one of <c>Code</c>/<c>CodeCount</c>, exactly one of <c>LotExpiresAt</c>/<c>LotValidDays</c>.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.PromotionSpec")]
public sealed record PromotionSpec(
    [property: Id(0)] string? Code,
    [property: Id(1)] int? CodeCount,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] DateTimeOffset? LotExpiresAt,
    [property: Id(4)] int? LotValidDays,
    [property: Id(5)] DateTimeOffset? StartsAt,
    [property: Id(6)] DateTimeOffset? EndsAt,
    [property: Id(7)] int? MaxRedemptions,
    [property: Id(8)] bool NewWalletsOnly);

/// <summary>A promotion as the admin sees it. <c>Code</c> is the shared code (null for generated single-use codes).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.PromotionView")]
public sealed record PromotionView(
    [property: Id(0)] string PromotionId,
    [property: Id(1)] string? Code,
    [property: Id(2)] int? CodeCount,
    [property: Id(3)] Micros Amount,
    [property: Id(4)] DateTimeOffset? LotExpiresAt,
    [property: Id(5)] int? LotValidDays,
    [property: Id(6)] DateTimeOffset? StartsAt,
    [property: Id(7)] DateTimeOffset? EndsAt,
    [property: Id(8)] int? MaxRedemptions,
    [property: Id(9)] int Redemptions,
    [property: Id(10)] bool NewWalletsOnly,
    [property: Id(11)] DateTimeOffset CreatedAt,
    [property: Id(12)] DateTimeOffset? DisabledAt)
{
    public bool Disabled => DisabledAt is not null;
}

/// <summary>A new promotion with its codes (shown once for generated ones), or why none was made.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.PromotionCreateResult")]
public sealed record PromotionCreateResult(
    [property: Id(0)] PromotionView? Promotion,
    [property: Id(1)] IReadOnlyList<string> Codes,
    [property: Id(2)] string? ErrorCode = null,
    [property: Id(3)] string? Detail = null);

/// <summary>A wallet redeems a code, under the caller's idempotency key.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.RedemptionRequest")]
public sealed record RedemptionRequest(
    [property: Id(0)] string WalletId,
    [property: Id(1)] string Code,
    [property: Id(2)] string IdempotencyKey);

/// <summary>How a redemption ended. Every status but <c>Redeemed</c> names its problem code.</summary>
public enum RedemptionStatus : byte
{
    Redeemed = 1,
    PromotionNotFound = 2,
    AlreadyRedeemed = 3,
    Exhausted = 4,
    Ended = 5,
    NotEligible = 6,
    WalletNotFound = 7,
    IdempotencyConflict = 8,
}

/// <summary>The answer to a redemption: the promotional lot it granted, or the refusal (recorded under the key, see <c>Replayed</c>).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.RedemptionResult")]
public sealed record RedemptionResult(
    [property: Id(0)] RedemptionStatus Status,
    [property: Id(1)] string? PromotionId = null,
    [property: Id(2)] long? LotId = null,
    [property: Id(3)] Micros Amount = default,
    [property: Id(4)] DateTimeOffset? ExpiresAt = null,
    [property: Id(5)] bool Replayed = false,
    [property: Id(6)] string? Detail = null)
{
    public bool Succeeded => Status == RedemptionStatus.Redeemed;

    public string? ErrorCode => Status switch
    {
        RedemptionStatus.Redeemed => null,
        RedemptionStatus.PromotionNotFound => PromotionErrorCodes.PromotionNotFound,
        RedemptionStatus.AlreadyRedeemed => PromotionErrorCodes.AlreadyRedeemed,
        RedemptionStatus.Exhausted => PromotionErrorCodes.PromotionExhausted,
        RedemptionStatus.Ended => PromotionErrorCodes.PromotionEnded,
        RedemptionStatus.NotEligible => PromotionErrorCodes.PromotionNotEligible,
        RedemptionStatus.WalletNotFound => ErrorCodes.WalletNotFound,
        _ => ErrorCodes.IdempotencyConflict,
    };

    /// <summary>Refusals of the promotion itself, recorded under the idempotency key and answered again on a replay.</summary>
    public bool IsRecordedRefusal => Status is RedemptionStatus.PromotionNotFound or RedemptionStatus.AlreadyRedeemed
        or RedemptionStatus.Exhausted or RedemptionStatus.Ended or RedemptionStatus.NotEligible;
}

/// <summary>
/// One promotion. Key: the promotion id. Serializes its redemptions: the count, the cap and the one-per-wallet rule are
/// decided here and guarded again by the database in the reservation's transaction.
/// </summary>
[Alias("qubrid.IPromotionGrain")]
[Version(0)]
public interface IPromotionGrain : IGrainWithStringKey
{
    /// <summary>Validates and writes the promotion and its codes; nothing is written on bad input.</summary>
    [Alias("Create")] Task<PromotionCreateResult> Create(PromotionSpec spec);

    /// <summary>Null when the promotion does not exist.</summary>
    [Alias("Get")] Task<PromotionView?> Get();

    /// <summary>No redemption is accepted from now on; null when the promotion does not exist. A repeat is harmless.</summary>
    [Alias("Disable")] Task<PromotionView?> Disable();

    /// <summary>Redeems one of this promotion's codes (<paramref name="request"/>'s code, normalised) for a wallet.</summary>
    [Alias("Redeem")] Task<RedemptionResult> Redeem(RedemptionRequest request);
}

/// <summary>Finds promotions: by code for a redemption (and answers replays of its key), newest first for the admin. Stateless.</summary>
[Alias("qubrid.IPromotionDirectoryGrain")]
[Version(0)]
public interface IPromotionDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Replays the key's first answer, or hands the redemption to the code's promotion; unknown codes are refused here.</summary>
    [Alias("Redeem")] Task<RedemptionResult> Redeem(RedemptionRequest request);

    /// <summary>The newest promotions first, at most <paramref name="limit"/> (1–500).</summary>
    [Alias("List"), ReadOnly] Task<IReadOnlyList<PromotionView>> List(int limit);
}
