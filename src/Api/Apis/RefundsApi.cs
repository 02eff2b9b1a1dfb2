using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>A void's answer: what it took from the lot, and what the lot still holds because holds or running sessions need it.</summary>
public sealed record LotVoidDto(long LotId, decimal Voided, decimal Remaining, long? Seq, string Detail);

/// <summary>A refund to the card: <c>status</c> succeeded, failed or pending; the credit note once it succeeded.</summary>
public sealed record CardRefundDto(string RefundId, string PaymentId, string UserId, long LotId, decimal Amount, string Reason, string Status,
    string? CreditNote, long? Seq, DateTimeOffset CreatedAt, string? Failure)
{
    public static CardRefundDto From(CardRefundView r) => new(r.RefundId, r.PaymentId, r.WalletId, r.LotId, r.Amount.ToUsd(), r.Reason, r.Status.ToWire(),
        r.CreditNote, r.Seq, r.CreatedAt, r.Failure);
}

public sealed record VoidLotBody(string? Reason);

public sealed record CardRefundBody(decimal? Amount, string? Reason);

public sealed record PromotionalFiguresDto(decimal Granted, decimal Consumed, decimal Expired, decimal Voided);

public sealed record PurchasedFiguresDto(decimal Bought, decimal Consumed, decimal Refunded, decimal Outstanding);

/// <summary>The credits report of a month: promotional and purchased flows, each a sum over the ledger.</summary>
public sealed record CreditsReportDto(string Month, PromotionalFiguresDto Promotional, PurchasedFiguresDto Purchased)
{
    public static CreditsReportDto From(CreditsReport r) => new($"{r.Year:D4}-{r.Month:D2}",
        new(r.PromotionalGranted.ToUsd(), r.PromotionalConsumed.ToUsd(), r.PromotionalExpired.ToUsd(), r.PromotionalVoided.ToUsd()),
        new(r.PurchasedBought.ToUsd(), r.PurchasedConsumed.ToUsd(), r.PurchasedRefunded.ToUsd(), r.PurchasedOutstanding.ToUsd()));
}

/// <summary>Voids of promotional lots, refunds of payments to the card, and the credits report (admin; a wallet's owner lists its refunds).</summary>
public static class RefundsApi
{
    public static IEndpointRouteBuilder MapRefundsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/wallets/{walletId}/lots/{lotId}/void", VoidLot).WithTags("Wallets").RequireAuthorization(Policies.Admin).WithName("VoidLot")
            .RequiresIdempotencyKey()
            .WithSummary("Void what remains of a promotional lot (a grant_void entry), never what holds and running sessions keep.")
            .Refuses(ErrorCodes.WalletNotFound, ErrorCodes.LotNotFound, ErrorCodes.LotNotVoidable, ErrorCodes.IdempotencyConflict);
        app.MapPost("/v1/payments/{paymentId}/refunds", RefundPayment).WithTags("Payments").RequireAuthorization(Policies.Admin).WithName("RefundPayment")
            .RequiresIdempotencyKey()
            .WithSummary("Refund a payment to its card, at most what remains unspent of the lot it bought; answers the credit note.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.PaymentNotFound, ErrorCodes.RefundExceedsRemaining, ErrorCodes.RefundFailed, ErrorCodes.IdempotencyConflict);
        app.MapGet("/v1/wallets/{userId}/refunds", ListRefunds).WithTags("Wallets").RequireAuthorization().WithName("ListCardRefunds")
            .WithSummary("The wallet's refunds to the card, newest first.").Refuses(ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden);
        app.MapGet("/v1/reports/credits", CreditsReport).WithTags("Reports").RequireAuthorization(Policies.Admin).WithName("GetCreditsReport")
            .WithSummary("Breakage, revenue and liability of a UTC month over all wallets (month=yyyy-MM).").Refuses(ErrorCodes.InvalidRequest);
        return app;
    }

    private static async Task<Results<Ok<LotVoidDto>, ProblemHttpResult>> VoidLot(string walletId, string lotId, VoidLotBody body, HttpRequest request,
        IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(walletId)) return ApiProblems.MalformedId("wallet id");
        if (!long.TryParse(lotId, NumberStyles.None, CultureInfo.InvariantCulture, out var lot) || lot <= 0)
            return ApiProblems.Invalid("The lot id must be a positive whole number.");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        var result = await cluster.GetGrain<IWalletLotsGrain>(walletId).VoidLot(new VoidLotRequest($"lot-void:{key}", lot, reason));
        if (!result.Operation.Succeeded) return ApiProblems.From(result.Operation);
        var detail = result.Voided.IsPositive
            ? result.Remaining.IsPositive ? "Voided what was not held; the rest stays while holds or running sessions need it." : "Voided the lot's remainder."
            : result.Remaining.IsPositive ? "Nothing voided: all that remains is held." : "Nothing voided: the lot is already empty (spent, expired or voided).";
        return TypedResults.Ok(new LotVoidDto(lot, result.Voided.ToUsd(), result.Remaining.ToUsd(), result.Operation.Seq, detail));
    }

    private static async Task<Results<Created<CardRefundDto>, ProblemHttpResult>> RefundPayment(string paymentId, CardRefundBody body, HttpRequest request,
        IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(paymentId)) return ApiProblems.MalformedId("payment id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Amount(body.Amount, WalletsApi.MaxAdminUsd, out var amount) is { } bad) return bad;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        var result = await cluster.GetGrain<ICardRefundGrain>(paymentId).Refund(new CardRefundRequest(key, paymentId, amount, reason));
        if (!result.Operation.Succeeded) return ApiProblems.From(result.Operation);
        var refund = result.Refund!;
        if (refund.Status == CardRefundStatus.Failed)
            return ApiProblems.Problem(ErrorCodes.RefundFailed, $"{refund.Failure} Nothing was refunded and no credits were taken (refund {refund.RefundId}).");
        return TypedResults.Created($"/v1/wallets/{refund.WalletId}/refunds", CardRefundDto.From(refund));
    }

    private static async Task<Results<Ok<ItemsDto<CardRefundDto>>, ProblemHttpResult>> ListRefunds(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (await cluster.GetGrain<IWalletGrain>(userId).GetBalance() is null) return ApiProblems.WalletNotFound(userId);
        var refunds = await cluster.GetGrain<IRefundReportGrain>(0).Refunds(userId, 200);
        return TypedResults.Ok(new ItemsDto<CardRefundDto>([.. refunds.Select(CardRefundDto.From)]));
    }

    private static async Task<Results<Ok<CreditsReportDto>, ProblemHttpResult>> CreditsReport(IClusterClient cluster, [FromQuery] string? month = null)
    {
        if (month is null || !DateOnly.TryParseExact(month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var first)
            || first.Year < 2000 || first.Year > 9998)
            return ApiProblems.Invalid("month must be a UTC month written yyyy-MM, e.g. 2026-03.");
        return TypedResults.Ok(CreditsReportDto.From(await cluster.GetGrain<IRefundReportGrain>(0).CreditsReport(first.Year, first.Month)));
    }
}
