using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>A user redeems a promotion's code on their own wallet: a promotional lot, once per wallet and promotion.</summary>
public static class RedemptionsApi
{
    public const int MaxCodeLength = 64;

    public static IEndpointRouteBuilder MapRedemptionsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/wallets/{walletId}/redemptions", Redeem).WithTags("Wallets").RequireAuthorization(Policies.User)
            .WithName("RedeemPromotionCode").RequiresIdempotencyKey()
            .WithSummary("Redeem a promotion's code (Idempotency-Key required): 201 with the promotional lot it granted. Failed attempts are limited (429).")
            .Refuses(ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict, PromotionErrorCodes.PromotionNotFound, PromotionErrorCodes.AlreadyRedeemed,
                PromotionErrorCodes.PromotionNotEligible, PromotionErrorCodes.PromotionExhausted, PromotionErrorCodes.PromotionEnded);
        return app;
    }

    private static async Task<Results<Created<RedemptionDto>, ProblemHttpResult>> Redeem(string walletId, RedemptionBody body, ClaimsPrincipal caller,
        HttpContext http, IClusterClient cluster, RedemptionThrottle throttle)
    {
        // The owner only (an organization's owner or billing role joins here once organizations have landed).
        if (WalletsApi.Access(caller, walletId) is { } denied) return denied;
        if (ApiRequest.IdempotencyKey(http.Request, out var key) is { } noKey) return noKey;
        var code = body.Code?.Trim() ?? "";
        if (code.Length is 0 or > MaxCodeLength || code.Any(char.IsControl))
            return ApiProblems.Invalid($"A code of 1–{MaxCodeLength} printable characters is required.");
        if (throttle.TryBegin(caller.UserId(), caller.KeyId(), ClientAddress.Of(http), out var wait) is not { } attempt)
        {
            http.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            return ApiProblems.Problem(ApiProblems.RateLimited, "Too many failed redemptions from this user, key or address; retry later.");
        }
        RedemptionResult result;
        try
        {
            result = await cluster.GetGrain<IPromotionDirectoryGrain>(0).Redeem(new RedemptionRequest(walletId, code, key));
        }
        catch
        {
            attempt.GiveBack(); // not a refusal: a 5xx, retried with the same key
            throw;
        }
        if (!result.IsRecordedRefusal || result.Replayed) attempt.GiveBack();
        return result.Succeeded
            ? TypedResults.Created($"/v1/wallets/{walletId}/lots",
                new RedemptionDto(result.PromotionId!, result.LotId!.Value, result.Amount.ToUsd(), result.ExpiresAt!.Value))
            : ApiProblems.Problem(result.ErrorCode!, result.Detail ?? "The code was not redeemed.");
    }
}
