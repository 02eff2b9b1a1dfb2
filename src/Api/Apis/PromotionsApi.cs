using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>Promotions (admin): create with a shared code or generated single-use codes, list, read with the redemption count, disable.</summary>
public static class PromotionsApi
{
    public const int DefaultListLimit = 50, MaxListLimit = LedgerQuery.MaxLimit;

    public static IEndpointRouteBuilder MapPromotionsApi(this IEndpointRouteBuilder app)
    {
        var promotions = app.MapGroup("/v1/promotions").WithTags("Promotions").RequireAuthorization(Policies.Admin);
        promotions.MapPost("", Create).WithName("CreatePromotion")
            .WithSummary("Create a promotion: one shared 'code' or 'codeCount' generated single-use codes (shown once), an amount, a lot expiry, a window and a cap.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.InvalidExpiry, PromotionErrorCodes.ScopeNotSupported, PromotionErrorCodes.PromotionCodeTaken);
        promotions.MapGet("", List).WithName("ListPromotions").WithSummary("Promotions, newest first, with their redemption counts.")
            .Refuses(ErrorCodes.InvalidRequest);
        promotions.MapGet("/{promotionId}", Get).WithName("GetPromotion").WithSummary("A promotion with its redemption count.")
            .Refuses(ErrorCodes.InvalidRequest, PromotionErrorCodes.PromotionNotFound);
        promotions.MapPost("/{promotionId}/disable", Disable).WithName("DisablePromotion")
            .WithSummary("Stop accepting redemptions (410 promotion_ended from now on); lots already granted stay. A repeat is harmless.")
            .Refuses(ErrorCodes.InvalidRequest, PromotionErrorCodes.PromotionNotFound);
        return app;
    }

    private static async Task<Results<Created<PromotionCreatedDto>, ProblemHttpResult>> Create(PromotionRequest body, IClusterClient cluster)
    {
        // Scoped credits are another change (the wallet's scoped lots): until a wallet can keep a scoped lot, a scoped
        // promotion is refused rather than granted unscoped. The hook: pass body.Scope into PromotionSpec once it can.
        if (body.Scope is not null)
            return ApiProblems.Problem(PromotionErrorCodes.ScopeNotSupported, "Scoped promotions are not supported yet: leave out 'scope'.");
        if (ApiRequest.Amount(body.Amount, WalletsApi.MaxAdminUsd, out var amount) is { } bad) return bad;
        if (body.Code is { Length: > 64 }) return ApiProblems.Invalid("A code is 4–32 letters, digits, '-' or '_'.");
        var id = "promo_" + Guid.NewGuid().ToString("N")[..20];
        var spec = new PromotionSpec(body.Code, body.CodeCount, amount, body.LotExpiresAt, body.LotValidDays, body.StartsAt, body.EndsAt,
            body.MaxRedemptions, body.NewWalletsOnly ?? false);
        var result = await cluster.GetGrain<IPromotionGrain>(id).Create(spec);
        if (result.Promotion is not { } created) return ApiProblems.Problem(result.ErrorCode ?? ErrorCodes.InvalidRequest, result.Detail ?? "Invalid promotion.");
        return TypedResults.Created($"/v1/promotions/{id}",
            new PromotionCreatedDto(id, created.Code, created.Code is null ? result.Codes : null));
    }

    private static async Task<Results<Ok<ItemsDto<PromotionDto>>, ProblemHttpResult>> List(IClusterClient cluster, [FromQuery] string? limit = null)
    {
        int n = DefaultListLimit;
        if (limit is { Length: > 0 } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1 || n > MaxListLimit))
            return ApiProblems.Invalid($"limit must be 1–{MaxListLimit}.");
        var items = await cluster.GetGrain<IPromotionDirectoryGrain>(0).List(n);
        return TypedResults.Ok(new ItemsDto<PromotionDto>(items.Select(PromotionDto.From).ToList()));
    }

    private static async Task<Results<Ok<PromotionDto>, ProblemHttpResult>> Get(string promotionId, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(promotionId)) return ApiProblems.MalformedId("promotion id");
        var promotion = await cluster.GetGrain<IPromotionGrain>(promotionId).Get();
        return promotion is null ? NotFound(promotionId) : TypedResults.Ok(PromotionDto.From(promotion));
    }

    private static async Task<Results<Ok<PromotionDto>, ProblemHttpResult>> Disable(string promotionId, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(promotionId)) return ApiProblems.MalformedId("promotion id");
        var promotion = await cluster.GetGrain<IPromotionGrain>(promotionId).Disable();
        return promotion is null ? NotFound(promotionId) : TypedResults.Ok(PromotionDto.From(promotion));
    }

    private static ProblemHttpResult NotFound(string promotionId) =>
        ApiProblems.Problem(PromotionErrorCodes.PromotionNotFound, $"Promotion '{promotionId}' does not exist.");
}
