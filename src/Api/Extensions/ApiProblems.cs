using Microsoft.AspNetCore.Http.HttpResults;

namespace Qubrid.Api.Extensions;

/// <summary>Every error the API answers: RFC 7807 problem details with a stable <c>code</c>, mapped in this one place.</summary>
public static partial class ApiProblems
{
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string PaymentDeclined = "payment_declined";
    public const string PaymentFailed = "payment_failed";
    public const string PayloadTooLarge = "payload_too_large";
    public const string RateLimited = "rate_limited";
    public const string Unavailable = "service_unavailable";
    public const string WalletBusy = "wallet_busy";
    public const string TooManyStreams = "too_many_streams";
    public const string ApiKeyNotFound = "api_key_not_found";
    public const string ApiKeyNotActive = "api_key_not_active";
    public const string LastAdminKey = "last_admin_key";
    public const string NotFound = "not_found";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string UnsupportedMediaType = "unsupported_media_type";
    public const string InternalError = "internal_error";

    private static readonly Dictionary<string, (int Status, string Title)> Codes = new()
    {
        [ErrorCodes.InsufficientCredits] = (402, "Insufficient credits"),
        [ErrorCodes.InvalidAmount] = (400, "Invalid amount"),
        [ErrorCodes.InvalidRequest] = (400, "Invalid request"),
        [ErrorCodes.IdempotencyKeyRequired] = (400, "Idempotency-Key header required"),
        [ErrorCodes.UnknownInstanceType] = (400, "Unknown instance type"),
        [ErrorCodes.UnknownModel] = (400, "Unknown model"),
        [ErrorCodes.IdempotencyConflict] = (409, "Idempotency key reused"),
        [ErrorCodes.SessionConflict] = (409, "Session conflict"),
        [ErrorCodes.WalletNotFound] = (404, "Wallet not found"),
        [ErrorCodes.SessionNotFound] = (404, "Session not found"),
        [ErrorCodes.SpendLimitExceeded] = (402, "Spending limit exceeded"),
        [ErrorCodes.HoldNotFound] = (404, "Hold not found"),
        [ErrorCodes.HoldNotActive] = (409, "Hold not active"),
        [ErrorCodes.CaptureExceedsHold] = (422, "Capture exceeds hold"),
        [ErrorCodes.InvalidExpiry] = (400, "Invalid expiry"),
        [ErrorCodes.InvalidAutoTopup] = (400, "Invalid auto top-up"),
        [ErrorCodes.InvalidLimit] = (400, "Invalid limit"),
        [ErrorCodes.LotNotFound] = (404, "Lot not found"),
        [ErrorCodes.LotNotVoidable] = (409, "Lot not voidable"),
        [ErrorCodes.PaymentNotFound] = (404, "Payment not found"),
        [ErrorCodes.RefundExceedsRemaining] = (422, "Refund exceeds what remains"),
        [ErrorCodes.RefundFailed] = (502, "Refund failed"),
        [ErrorCodes.OrganizationNotFound] = (404, "Organization not found"),
        [ErrorCodes.OrganizationExists] = (409, "Organization exists"),
        [ErrorCodes.OrganizationIdTaken] = (409, "Organization id taken"),
        [ErrorCodes.LastOwner] = (409, "Last owner"),
        [ErrorCodes.NotAMember] = (403, "Not a member"),
        [ErrorCodes.MemberNotFound] = (404, "Member not found"),
        [ErrorCodes.InvalidScope] = (400, "Invalid scope"),
        [PaymentDeclined] = (402, "Payment declined"),
        [PaymentFailed] = (502, "Payment failed"),
        [Unauthorized] = (401, "Unauthenticated"),
        [Forbidden] = (403, "Forbidden"),
        [PayloadTooLarge] = (413, "Request body too large"),
        [RateLimited] = (429, "Too many requests"),
        [Unavailable] = (503, "Service unavailable"),
        [WalletBusy] = (503, "Wallet busy"),
        [TooManyStreams] = (429, "Too many event streams"),
        [ApiKeyNotFound] = (404, "API key not found"),
        [ApiKeyNotActive] = (409, "API key not active"),
        [LastAdminKey] = (409, "Last admin key"),
        [NotFound] = (404, "Not found"),
        [MethodNotAllowed] = (405, "Method not allowed"),
        [UnsupportedMediaType] = (415, "Unsupported media type"),
        [InternalError] = (500, "Internal error"),
        [WebhookErrorCodes.InvalidWebhookUrl] = (400, "Invalid webhook URL"),
        [WebhookErrorCodes.TooManyWebhooks] = (409, "Too many webhook endpoints"),
        [WebhookErrorCodes.WebhookNotFound] = (404, "Webhook endpoint not found"),
        [WebhookErrorCodes.DeliveryNotFound] = (404, "Webhook delivery not found"),
        [Apis.StatementsApi.ReceiptNotFound] = (404, "Receipt not found"),
        [PromotionErrorCodes.PromotionNotFound] = (404, "Promotion not found"),
        [PromotionErrorCodes.AlreadyRedeemed] = (409, "Already redeemed"),
        [PromotionErrorCodes.PromotionNotEligible] = (409, "Not eligible for this promotion"),
        [PromotionErrorCodes.PromotionCodeTaken] = (409, "Promotion code taken"),
        [PromotionErrorCodes.PromotionExhausted] = (410, "Promotion exhausted"),
        [PromotionErrorCodes.PromotionEnded] = (410, "Promotion ended"),
        [PromotionErrorCodes.ScopeNotSupported] = (400, "Scope not supported"),
    };

    /// <summary>The HTTP status a code is answered with (400 for a code not listed).</summary>
    public static int StatusOf(string code) => Codes.TryGetValue(code, out var c) ? c.Status : 400;

    public static string TitleOf(string code) => Codes.TryGetValue(code, out var c) ? c.Title : "Bad request";

    /// <summary>
    /// The code of a refusal the framework or the server answered without a body (no route, wrong method, wrong
    /// content type, a body too large or malformed): the codes above where one fits, otherwise the status's name.
    /// </summary>
    public static string CodeForStatus(int status) => status switch
    {
        400 => ErrorCodes.InvalidRequest,
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        405 => MethodNotAllowed,
        413 => PayloadTooLarge,
        415 => UnsupportedMediaType,
        429 => RateLimited,
        500 => InternalError,
        503 => Unavailable,
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase
            ? phrase.ToLowerInvariant().Replace(' ', '_').Replace("-", "_")
            : status < 500 ? "bad_request" : "server_error",
    };

    /// <summary>A problem with the status the framework chose and the code that goes with it.</summary>
    public static ProblemHttpResult ForStatus(int status, string detail)
    {
        var code = CodeForStatus(status);
        var title = Codes.TryGetValue(code, out var c) && c.Status == status ? c.Title
            : Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);
        return TypedResults.Problem(detail, statusCode: status, title: title, type: $"https://qubrid.ai/problems/{code}",
            extensions: new Dictionary<string, object?> { ["code"] = code });
    }

    // R-INPUT-1: every error is problem+json with a stable code.
    public static ProblemHttpResult Problem(string code, string detail)
    {
        var (status, title) = Codes.TryGetValue(code, out var c) ? c : (400, "Bad request");
        return TypedResults.Problem(detail, statusCode: status, title: title, type: $"https://qubrid.ai/problems/{code}",
            extensions: new Dictionary<string, object?> { ["code"] = code });
    }

    /// <summary>Writes a problem outside an endpoint (authentication, middleware).</summary>
    public static Task Write(HttpContext context, string code, string detail) => Problem(code, detail).ExecuteAsync(context);

    /// <summary>The problem for a failed wallet operation.</summary>
    public static ProblemHttpResult From(WalletOpResult result) =>
        Problem(result.ErrorCode ?? (result.Status == WalletOpStatus.InsufficientCredits ? ErrorCodes.InsufficientCredits : ErrorCodes.InvalidRequest),
            result.Detail ?? "The operation was refused.");

    public static ProblemHttpResult From(SessionOpResult result) =>
        Problem(result.ErrorCode ?? ErrorCodes.InvalidRequest, result.Detail ?? "The operation was refused.");

    public static ProblemHttpResult WalletNotFound(string userId) => Problem(ErrorCodes.WalletNotFound, $"Wallet '{userId}' does not exist.");

    public static ProblemHttpResult Invalid(string detail) => Problem(ErrorCodes.InvalidRequest, detail);

    /// <summary>User, session and payment ids (the rule's one home: <see cref="Ids"/>).</summary>
    public static bool IsValidId(string? id) => Ids.IsValid(id);

    public static ProblemHttpResult MalformedId(string what) =>
        Invalid($"The {what} must be {Ids.Rule}.");
}
