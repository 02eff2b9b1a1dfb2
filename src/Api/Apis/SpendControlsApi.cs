using System.Security.Claims;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;
using Qubrid.Payments;

namespace Qubrid.Api.Apis;

/// <summary>Spend controls: holds (two-phase spending), spending limits and the automatic recharge (docs/rules.md#R-HOLD-1, R-LIMIT-1, R-AUTO-1).</summary>
public static class SpendControlsApi
{
    /// <summary>The largest hold, limit, threshold or cap accepted (USD).</summary>
    public const decimal MaxAmountUsd = 1_000_000m;

    public static IEndpointRouteBuilder MapSpendControlsApi(this IEndpointRouteBuilder app)
    {
        var wallet = app.MapGroup("/v1/wallets/{userId}").WithTags("Spend controls").RequireAuthorization();
        wallet.MapPost("/holds", CreateHold).RequireAuthorization(Policies.Orchestrator).WithName("CreateHold").RequiresIdempotencyKey()
            .WithSummary("Reserve an amount until expiresAt (Idempotency-Key required): available = total − held; 402 if it is not available.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.InvalidExpiry, ErrorCodes.InvalidRequest, ErrorCodes.InsufficientCredits, ErrorCodes.SpendLimitExceeded,
                ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict);
        wallet.MapGet("/holds", ListHolds).WithName("ListHolds").WithSummary("Active holds (owner, orchestrator, admin).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);
        wallet.MapGet("/limits", GetLimits).WithName("GetLimits")
            .WithSummary("Spending limits per UTC hour, day and month (the lower of the owner's and the admin's) and this period's spend.")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);
        wallet.MapPut("/limits", SetLimits).WithName("SetLimits")
            .WithSummary("Set limits (null = none): the owner sets theirs, the admin theirs (a null admin limit means the platform default); the lower applies.")
            .Refuses(ErrorCodes.InvalidLimit, ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);
        wallet.MapGet("/auto-topup", GetAutoTopup).RequireAuthorization(Policies.User).WithName("GetAutoTopup")
            .WithSummary("The automatic recharge (the saved card token is never returned).")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);
        wallet.MapPut("/auto-topup", SetAutoTopup).RequireAuthorization(Policies.User).WithName("SetAutoTopup")
            .WithSummary("Turn the automatic recharge on or off: below threshold, buy back up to target with the saved card, at most monthlyCap a month.")
            .Refuses(ErrorCodes.InvalidAutoTopup, ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);

        var holds = app.MapGroup("/v1/holds/{holdId}").WithTags("Spend controls").RequireAuthorization(Policies.Orchestrator);
        holds.MapPost("/capture", Capture).WithName("CaptureHold").RequiresIdempotencyKey()
            .WithSummary("Capture at most the held amount (a hold_capture debit; the rest is released; 0 voids). Idempotency-Key required.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.HoldNotFound, ErrorCodes.HoldNotActive, ErrorCodes.CaptureExceedsHold, ErrorCodes.IdempotencyConflict);
        holds.MapPost("/void", Void).WithName("VoidHold").RequiresIdempotencyKey()
            .WithSummary("Release a hold (Idempotency-Key required).")
            .Refuses(ErrorCodes.HoldNotFound, ErrorCodes.HoldNotActive, ErrorCodes.IdempotencyConflict);
        return app;
    }

    private static async Task<Results<Created<HoldDto>, ProblemHttpResult>> CreateHold(string userId, HoldBody body, HttpRequest request, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Amount(body.Amount, MaxAmountUsd, out var amount) is { } bad) return bad;
        if (body.ExpiresAt is not { } expiresAt) return ApiProblems.Problem(ErrorCodes.InvalidExpiry, "A hold needs an 'expiresAt'.");
        var reference = body.Reference?.Trim() ?? ""; // its length and characters are the wallet's check (R-INPUT-3, RequestRules.ValidateHold)
        var result = await cluster.GetGrain<IWalletGrain>(userId).CreateHold(new HoldRequest(key, amount, expiresAt, reference));
        return result is { Result.Succeeded: true, Hold: { } hold }
            ? TypedResults.Created($"/v1/wallets/{userId}/holds", HoldDto.From(hold))
            : ApiProblems.From(result.Result);
    }

    private static async Task<Results<Ok<ItemsDto<HoldDto>>, ProblemHttpResult>> ListHolds(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (!caller.IsInRole(Roles.Orchestrator) && WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        var holds = await cluster.GetGrain<IWalletGrain>(userId).GetHolds();
        return holds is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(new ItemsDto<HoldDto>(holds.Select(HoldDto.From).ToList()));
    }

    private static Task<Results<Ok<HoldDto>, ProblemHttpResult>> Capture(string holdId, CaptureBody body, HttpRequest request, IClusterClient cluster)
    {
        if (body.Amount is not { } usd) return Task.FromResult<Results<Ok<HoldDto>, ProblemHttpResult>>(ApiProblems.Problem(ErrorCodes.InvalidAmount, "An amount (USD) is required; 0 voids."));
        if (usd < 0 || usd > MaxAmountUsd || !Micros.TryFromUsd(usd, out var amount))
            return Task.FromResult<Results<Ok<HoldDto>, ProblemHttpResult>>(ApiProblems.Problem(ErrorCodes.InvalidAmount, $"The amount must be 0–{MaxAmountUsd} USD with at most 6 decimals."));
        return Settle(holdId, amount, voiding: false, request, cluster);
    }

    private static Task<Results<Ok<HoldDto>, ProblemHttpResult>> Void(string holdId, HttpRequest request, IClusterClient cluster) =>
        Settle(holdId, Micros.Zero, voiding: true, request, cluster);

    private static async Task<Results<Ok<HoldDto>, ProblemHttpResult>> Settle(string holdId, Micros amount, bool voiding, HttpRequest request, IClusterClient cluster)
    {
        if (!HoldIds.TryParse(holdId, out var userId, out var number)) return HoldNotFound(holdId);
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        var result = await cluster.GetGrain<IWalletGrain>(userId).SettleHold(new HoldSettleRequest(key, number, amount, voiding));
        if (result.Result.Status == WalletOpStatus.WalletNotFound) return HoldNotFound(holdId);
        return result is { Result.Succeeded: true, Hold: { } hold } ? TypedResults.Ok(HoldDto.From(hold)) : ApiProblems.From(result.Result);
    }

    public static ProblemHttpResult HoldNotFound(string holdId) => ApiProblems.Problem(ErrorCodes.HoldNotFound, $"Hold '{holdId}' does not exist.");

    private static async Task<Results<Ok<LimitsDto>, ProblemHttpResult>> GetLimits(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        var limits = await cluster.GetGrain<IWalletGrain>(userId).GetLimits();
        return limits is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(LimitsDto.From(limits));
    }

    private static async Task<Results<Ok<LimitsDto>, ProblemHttpResult>> SetLimits(string userId, LimitsBody body, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId, WalletRight.Money) is { } denied) return denied;
        if (Limit(body.PerHour, "perHour", out var hour) is { } badHour) return badHour;
        if (Limit(body.PerDay, "perDay", out var day) is { } badDay) return badDay;
        if (Limit(body.PerMonth, "perMonth", out var month) is { } badMonth) return badMonth;
        var scope = caller.IsInRole(Roles.Admin) ? LimitScope.Admin : LimitScope.Owner;
        var limits = await cluster.GetGrain<IWalletGrain>(userId).SetLimits(scope, new SpendLimits(hour, day, month));
        return limits is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(LimitsDto.From(limits));
    }

    private static ProblemHttpResult? Limit(decimal? usd, string name, out Micros? limit)
    {
        limit = null;
        if (usd is not { } value) return null;
        if (value < 0 || value > MaxAmountUsd || !Micros.TryFromUsd(value, out var micros))
            return ApiProblems.Problem(ErrorCodes.InvalidLimit, $"{name} must be null or 0–{MaxAmountUsd} USD with at most 6 decimals.");
        limit = micros;
        return null;
    }

    private static async Task<Results<Ok<AutoTopupDto>, ProblemHttpResult>> GetAutoTopup(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId, WalletRight.Money) is { } denied) return denied;
        var auto = await cluster.GetGrain<IWalletGrain>(userId).GetAutoTopup();
        return auto is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(AutoTopupDto.From(auto));
    }

    private static async Task<Results<Ok<AutoTopupDto>, ProblemHttpResult>> SetAutoTopup(string userId, AutoTopupBody body, ClaimsPrincipal caller,
        IClusterClient cluster, IPaymentGateway gateway)
    {
        if (WalletsApi.Access(caller, userId, WalletRight.Money) is { } denied) return denied;
        static ProblemHttpResult Bad(string detail) => ApiProblems.Problem(ErrorCodes.InvalidAutoTopup, detail);
        if (body.Enabled is not { } enabled) return Bad("'enabled' is required.");
        if (!Usd(body.Threshold, out var threshold)) return Bad("'threshold' is required: 0–1000000 USD with at most 6 decimals.");
        if (!Usd(body.Target, out var target) || !target.IsPositive) return Bad("'target' is required: a positive USD amount with at most 6 decimals.");
        if (threshold >= target) return Bad("'threshold' must be below 'target'.");
        if (!Usd(body.MonthlyCap, out var cap) || !cap.IsPositive) return Bad("'monthlyCap' is required: a positive USD amount with at most 6 decimals.");
        if (string.IsNullOrEmpty(body.PaymentToken) || !gateway.IsKnownToken(body.PaymentToken)) return Bad("A saved card token ('paymentToken') is required.");
        var auto = await cluster.GetGrain<IWalletGrain>(userId).ConfigureAutoTopup(new AutoTopupSettings(enabled, threshold, target, body.PaymentToken, cap));
        return auto is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(AutoTopupDto.From(auto));
    }

    private static bool Usd(decimal? usd, out Micros micros)
    {
        micros = Micros.Zero;
        return usd is { } v && v >= 0 && v <= MaxAmountUsd && Micros.TryFromUsd(v, out micros);
    }
}

/// <summary>SPEC shape "Hold".</summary>
public sealed record HoldDto(string HoldId, string UserId, decimal Amount, decimal Captured, string State, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string Reference)
{
    public static HoldDto From(HoldView h) => new(h.HoldId, h.UserId, h.Amount.ToUsd(), h.Captured.ToUsd(), h.State.ToWire(), h.CreatedAt, h.ExpiresAt, h.Reference);
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record HoldBody(decimal? Amount, DateTimeOffset? ExpiresAt, string? Reference);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record CaptureBody(decimal? Amount);

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record LimitsBody(decimal? PerHour, decimal? PerDay, decimal? PerMonth);

public sealed record LimitAmountsDto(decimal? PerHour, decimal? PerDay, decimal? PerMonth)
{
    public static LimitAmountsDto From(SpendLimits l) => new(l.PerHour?.ToUsd(), l.PerDay?.ToUsd(), l.PerMonth?.ToUsd());
}

public sealed record SpentDto(decimal Hour, decimal Day, decimal Month);

/// <summary>SPEC shape "Limits": the effective limits and this period's spend, plus each scope's own.</summary>
public sealed record LimitsDto(decimal? PerHour, decimal? PerDay, decimal? PerMonth, SpentDto Spent, LimitAmountsDto Owner, LimitAmountsDto Admin)
{
    public static LimitsDto From(LimitsView v) => new(v.Effective.PerHour?.ToUsd(), v.Effective.PerDay?.ToUsd(), v.Effective.PerMonth?.ToUsd(),
        new SpentDto(v.SpentHour.ToUsd(), v.SpentDay.ToUsd(), v.SpentMonth.ToUsd()), LimitAmountsDto.From(v.Owner), LimitAmountsDto.From(v.Admin));
}

[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record AutoTopupBody(bool? Enabled, decimal? Threshold, decimal? Target, string? PaymentToken, decimal? MonthlyCap);

/// <summary>SPEC shape "Auto top-up"; the token is never returned.</summary>
public sealed record AutoTopupDto(bool Enabled, decimal Threshold, decimal Target, decimal MonthlyCap, decimal SpentThisMonth, int ConsecutiveFailures,
    string? DisabledReason, bool InFlight, bool Configured)
{
    public static AutoTopupDto From(AutoTopupView v) => new(v.Enabled, v.Threshold.ToUsd(), v.Target.ToUsd(), v.MonthlyCap.ToUsd(), v.SpentThisMonth.ToUsd(),
        v.ConsecutiveFailures, v.DisabledReason, v.InFlight, v.Configured);
}
