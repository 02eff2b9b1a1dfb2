using System.Text.Json.Serialization;

namespace Qubrid.Api.Extensions;

/// <summary>
/// <c>POST /v1/promotions</c>: exactly one of <c>code</c> (one shared code) or <c>codeCount</c> (generated single-use codes),
/// exactly one of <c>lotExpiresAt</c> or <c>lotValidDays</c> (after redemption).
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PromotionRequest(
    decimal? Amount, string? Code = null, int? CodeCount = null, DateTimeOffset? LotExpiresAt = null, int? LotValidDays = null,
    DateTimeOffset? StartsAt = null, DateTimeOffset? EndsAt = null, int? MaxRedemptions = null, bool? NewWalletsOnly = null,
    PromotionScopeBody? Scope = null);

/// <summary>What a scoped promotion's lot may pay for (scoped credits); refused until the wallet supports scoped lots.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record PromotionScopeBody(IReadOnlyList<string>? InstanceTypes = null, IReadOnlyList<string>? Models = null, IReadOnlyList<string>? Workloads = null);

/// <summary>A new promotion: its shared <c>code</c>, or its generated single-use <c>codes</c> (shown once).</summary>
public sealed record PromotionCreatedDto(string PromotionId, string? Code, IReadOnlyList<string>? Codes);

/// <summary>A promotion with its redemption count (pending and done) and state (<c>active</c> or <c>disabled</c>).</summary>
public sealed record PromotionDto(
    string PromotionId, string? Code, int? CodeCount, decimal Amount, DateTimeOffset? LotExpiresAt, int? LotValidDays,
    DateTimeOffset? StartsAt, DateTimeOffset? EndsAt, int? MaxRedemptions, int Redemptions, bool NewWalletsOnly,
    PromotionScopeBody? Scope, string State, DateTimeOffset CreatedAt, DateTimeOffset? DisabledAt)
{
    public const string Active = "active", Disabled = "disabled";

    public static PromotionDto From(PromotionView p) => new(p.PromotionId, p.Code, p.CodeCount, p.Amount.ToUsd(), p.LotExpiresAt, p.LotValidDays,
        p.StartsAt, p.EndsAt, p.MaxRedemptions, p.Redemptions, p.NewWalletsOnly, null, p.Disabled ? Disabled : Active, p.CreatedAt, p.DisabledAt);
}

/// <summary><c>POST /v1/wallets/{walletId}/redemptions</c>: the code, case-insensitive.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RedemptionBody(string? Code);

/// <summary>A redeemed code: the promotional lot it granted.</summary>
public sealed record RedemptionDto(string PromotionId, long LotId, decimal Amount, DateTimeOffset ExpiresAt);
