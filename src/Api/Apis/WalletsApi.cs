using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;
using Qubrid.Payments;

namespace Qubrid.Api.Apis;

/// <summary>Wallets: balance, lots, ledger (JSON and CSV), usage, top-ups, and the admin's grants, adjustments and refunds.</summary>
public static class WalletsApi
{
    // R-ADMIN-2: an admin call moves at most 1,000,000 USD (the lot kinds: R-LOT-1).
    public const decimal MaxAdminUsd = 1_000_000m;

    public static IEndpointRouteBuilder MapWalletsApi(this IEndpointRouteBuilder app)
    {
        var wallets = app.MapGroup("/v1/wallets/{userId}").WithTags("Wallets").RequireAuthorization();

        wallets.MapPut("", CreateWallet).RequireAuthorization(Policies.Admin).WithName("CreateWallet")
            .WithSummary("Create the wallet (the sign-up bonus is granted once); a repeat is harmless.").Refuses(ErrorCodes.InvalidRequest);
        wallets.MapGet("", GetWallet).WithName("GetWallet")
            .WithSummary("Balance: total, promotional with next expiry, purchased, burn rate, runway, running sessions.").Refuses(Read);
        wallets.MapGet("/lots", GetLots).WithName("ListLots").WithSummary("Credit lots with what remains and when they expire.").Refuses(Read);
        wallets.MapGet("/ledger", GetLedger).WithName("GetLedger").WithSummary("Transaction history, newest first, with a cursor.").Refuses(Read);
        wallets.MapGet("/ledger.csv", GetLedgerCsv).WithName("GetLedgerCsv").WithSummary("The transaction history as CSV.")
            .Produces<string>(StatusCodes.Status200OK, "text/csv").Refuses(Read);
        wallets.MapGet("/usage", GetUsage).WithName("GetUsage")
            .WithSummary("Spending grouped by day, instance type, model, workload, member or project (an organization's member sees only their own).").Refuses(Read);
        wallets.MapPost("/topups", Topup).RequireAuthorization(Policies.User).WithName("CreateTopup").RequiresIdempotencyKey()
            .WithSummary("Buy credits by card (Idempotency-Key required). Test tokens: tok_visa, tok_chargeDeclined, tok_processingError.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict, ApiProblems.PaymentDeclined, ApiProblems.PaymentFailed,
                ApiProblems.Forbidden);
        wallets.MapPost("/grants", Grant).RequireAuthorization(Policies.Admin).WithName("CreateGrant").RequiresIdempotencyKey()
            .WithSummary("Grant promotional credits that expire; with a scope they pay only for matching usage.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.InvalidScope, ErrorCodes.UnknownInstanceType, ErrorCodes.UnknownModel, ErrorCodes.WalletNotFound,
                ErrorCodes.IdempotencyConflict);
        wallets.MapPost("/adjustments", Adjust).RequireAuthorization(Policies.Admin).WithName("CreateAdjustment").RequiresIdempotencyKey()
            .WithSummary("A signed correction with a mandatory reason.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.InsufficientCredits, ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict);
        wallets.MapPost("/refunds", Refund).RequireAuthorization(Policies.Admin).WithName("CreateRefund").RequiresIdempotencyKey()
            .WithSummary("Give credits back (as a non-expiring lot) with a reason.").Refuses(ErrorCodes.InvalidAmount, ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict);
        return app;
    }

    /// <summary>What a read of a wallet may answer besides its data: a malformed id or query, another user's wallet, an orchestrator's key.</summary>
    private static readonly string[] Read = [ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden];

    /// <summary>
    /// Admin: any wallet. User: their own, and an organization's as their role there allows (a member asking for more is 403);
    /// another's is "not found". Orchestrator: none.
    /// </summary>
    public static ProblemHttpResult? Access(ClaimsPrincipal caller, string userId, WalletRight right = WalletRight.Read)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (caller.CanSeeWallet(userId, right)) return null;
        if (caller.OrganizationRole(userId) is { } role)
            return ApiProblems.Problem(ApiProblems.Forbidden, $"The {role.ToWire()} role of '{userId}' may not do this.");
        return caller.IsInRole(Roles.User) ? ApiProblems.WalletNotFound(userId) : ApiProblems.Problem(ApiProblems.Forbidden, "This API key's role may not read wallets.");
    }

    private static async Task<Results<Created<WalletDto>, Ok<WalletDto>, ProblemHttpResult>> CreateWallet(string userId, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        var result = await cluster.GetGrain<IWalletGrain>(userId).Create();
        var body = WalletDto.From(result.Balance);
        return result.Created ? TypedResults.Created($"/v1/wallets/{userId}", body) : TypedResults.Ok(body);
    }

    private static async Task<Results<Ok<WalletDto>, ProblemHttpResult>> GetWallet(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (Access(caller, userId, WalletRight.Balance) is { } denied) return denied;
        var balance = await cluster.GetGrain<IWalletGrain>(userId).GetBalance();
        return balance is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(WalletDto.From(balance));
    }

    private static async Task<Results<Ok<ItemsDto<LotDto>>, ProblemHttpResult>> GetLots(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (Access(caller, userId) is { } denied) return denied;
        var lots = await cluster.GetGrain<IWalletGrain>(userId).GetLots();
        return lots is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(new ItemsDto<LotDto>(lots.Select(LotDto.From).ToList()));
    }

    /// <summary>
    /// The ledger's query, bound as text so that a bad value is answered with its own message (the OpenAPI document gives each its type):
    /// kind (repeated or comma-separated), from, to (ISO-8601), cursor, limit (1–500).
    /// </summary>
    public sealed record LedgerQueryParameters(
        [FromQuery(Name = "kind")] string[]? Kind, [FromQuery(Name = "from")] string? From, [FromQuery(Name = "to")] string? To,
        [FromQuery(Name = "cursor")] string? Cursor, [FromQuery(Name = "limit")] string? Limit);

    private static async Task<Results<Ok<LedgerPageDto>, ProblemHttpResult>> GetLedger(
        string userId, [AsParameters] LedgerQueryParameters q, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (Access(caller, userId) is { } denied) return denied;
        if (ParseLedgerQuery(q, out var query) is { } invalid) return invalid;
        var page = await cluster.GetGrain<IWalletGrain>(userId).GetLedger(query);
        return page is null
            ? ApiProblems.WalletNotFound(userId)
            : TypedResults.Ok(new LedgerPageDto(page.Items.Select(LedgerEntryDto.From).ToList(), page.NextBefore?.ToString(CultureInfo.InvariantCulture)));
    }

    private static async Task<Results<CsvFileResult, ProblemHttpResult>> GetLedgerCsv(
        string userId, [AsParameters] LedgerQueryParameters q, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (Access(caller, userId) is { } denied) return denied;
        if (ParseLedgerQuery(q, out var query) is { } invalid) return invalid;
        var wallet = cluster.GetGrain<IWalletGrain>(userId);
        var csv = await LedgerCsv.OpenAsync(wallet.GetLedger, query, $"qubrid-ledger-{userId}.csv");
        return csv ?? (Results<CsvFileResult, ProblemHttpResult>)ApiProblems.WalletNotFound(userId);
    }

    public static ProblemHttpResult? ParseLedgerQuery(LedgerQueryParameters q, out LedgerQuery query)
    {
        query = new LedgerQuery();
        var kinds = new List<LedgerEntryKind>();
        foreach (var raw in (q.Kind ?? []).SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!LedgerKinds.TryParse(raw, out var kind))
                return ApiProblems.Invalid($"Unknown kind '{raw}'. Kinds: {string.Join(", ", Enum.GetValues<LedgerEntryKind>().Select(k => k.ToWire()))}.");
            kinds.Add(kind);
        }
        if (ParseTime(q.From, "from", out var from) is { } badFrom) return badFrom;
        if (ParseTime(q.To, "to", out var to) is { } badTo) return badTo;
        long? before = null;
        if (q.Cursor is { Length: > 0 } cursor)
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq <= 0) return ApiProblems.Invalid("Malformed cursor.");
            before = seq;
        }
        int limit = 50;
        if (q.Limit is { Length: > 0 } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > LedgerQuery.MaxLimit))
            return ApiProblems.Invalid($"limit must be 1–{LedgerQuery.MaxLimit}.");
        query = new LedgerQuery(kinds.Count > 0 ? kinds : null, from, to, before, limit);
        return null;
    }

    /// <summary>The times a query may name: no ledger entry is older than the epoch, and the calendar's edges are not arithmetic's.</summary>
    private static readonly DateTimeOffset EarliestTime = DateTimeOffset.UnixEpoch, LatestTime = new(9999, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static ProblemHttpResult? ParseTime(string? raw, string name, out DateTimeOffset? value)
    {
        value = null;
        if (string.IsNullOrEmpty(raw)) return null;
        if (!DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            return ApiProblems.Invalid($"'{name}' must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z.");
        if (parsed < EarliestTime || parsed > LatestTime)
            return ApiProblems.Invalid($"'{name}' must lie between {EarliestTime:yyyy-MM-dd} and {LatestTime:yyyy-MM-dd}.");
        value = parsed;
        return null;
    }

    private static async Task<Results<Ok<UsageDto>, ProblemHttpResult>> GetUsage(
        string userId, ClaimsPrincipal caller, IClusterClient cluster, TimeProvider time,
        [FromQuery] string? from = null, [FromQuery] string? to = null, [FromQuery] string? groupBy = null)
    {
        if (Access(caller, userId, WalletRight.Usage) is { } denied) return denied;
        if (ParseTime(from, "from", out var fromQ) is { } badFrom) return badFrom;
        if (ParseTime(to, "to", out var toQ) is { } badTo) return badTo;
        var until = toQ ?? time.GetUtcNow();
        var since = fromQ ?? until.AddDays(-30);
        if (since >= until || until - since > TimeSpan.FromDays(366)) return ApiProblems.Invalid("'from' must be before 'to', at most 366 days apart.");
        var grouping = groupBy is { Length: > 0 } g ? g : UsageReport.Day;
        if (!UsageReport.Groupings.Contains(grouping)) return ApiProblems.Invalid("groupBy must be day, instanceType, model, workload, member or project.");
        // R-ORG-5: a member sees only their own usage of the organization's wallet.
        var onlyMember = caller.OrganizationRole(userId) == OrgRole.Member ? caller.UserId() : null;
        var rows = await cluster.GetGrain<IWalletGrain>(userId).GetUsage(new UsageQuery(since, until, onlyMember));
        return rows is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(UsageReport.Build(rows, grouping, since, until));
    }

    private static async Task<Results<Created<TopupResult>, ProblemHttpResult>> Topup(string userId, TopupRequest body, ClaimsPrincipal caller, HttpRequest request,
        TopupService topups, IPaymentGateway gateway, IOptions<TopupOptions> options, CancellationToken ct)
    {
        if (Access(caller, userId, WalletRight.Money) is { } denied) return denied;
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        var o = options.Value;
        if (body.Amount is { } a && a > 0 && a < o.Min) return ApiProblems.Problem(ErrorCodes.InvalidAmount, $"The smallest top-up is {o.Min} USD.");
        if (ApiRequest.Amount(body.Amount, o.Max, out var amount) is { } bad) return bad;
        if (string.IsNullOrEmpty(body.PaymentToken) || !gateway.IsKnownToken(body.PaymentToken))
            return ApiProblems.Invalid("Unknown payment token.");
        return TopupAnswer(await topups.TopupAsync(userId, amount, body.PaymentToken, key, ct), userId, key);
    }

    /// <summary>A top-up's outcome in HTTP: 201 with the payment, or the problem that says why no credits were added.</summary>
    public static Results<Created<TopupResult>, ProblemHttpResult> TopupAnswer(TopupOutcome outcome, string userId, string idempotencyKey) => outcome.Kind switch
    {
        TopupOutcomeKind.Succeeded =>
            TypedResults.Created($"/v1/wallets/{userId}/lots", new TopupResult(outcome.PaymentId!, outcome.Amount.ToUsd(), "succeeded", outcome.LotId)),
        TopupOutcomeKind.WalletNotFound => ApiProblems.WalletNotFound(userId),
        TopupOutcomeKind.IdempotencyConflict =>
            ApiProblems.Problem(ErrorCodes.IdempotencyConflict, $"Idempotency key '{idempotencyKey}' was used for a different top-up."),
        TopupOutcomeKind.Declined =>
            ApiProblems.Problem(ApiProblems.PaymentDeclined, $"{outcome.Failure} No credits were added (payment {outcome.PaymentId})."),
        _ => ApiProblems.Problem(ApiProblems.PaymentFailed,
            $"{outcome.Failure ?? "The payment is not settled yet."} No credits were added (payment {outcome.PaymentId})."),
    };

    private static async Task<Results<Created<CreditDto>, ProblemHttpResult>> Grant(string userId, GrantRequest body, HttpRequest request, IClusterClient cluster, TimeProvider time)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Amount(body.Amount, MaxAdminUsd, out var amount) is { } bad) return bad;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        if (body.ExpiresAt is not { } expiresAt || expiresAt <= time.GetUtcNow())
            return ApiProblems.Invalid("Promotional credits need an 'expiresAt' in the future.");
        var scope = await ScopeChecks.CheckAsync(body.Scope?.ToScope(), cluster);
        if (!scope.Valid) return ApiProblems.Problem(scope.ErrorCode!, scope.Detail!);
        return Credited(await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest(key, LedgerEntryKind.Grant, amount, reason, expiresAt, scope.Scope)), userId);
    }

    private static async Task<Results<Created<CreditDto>, ProblemHttpResult>> Adjust(string userId, AdjustmentRequest body, HttpRequest request, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        var wallet = cluster.GetGrain<IWalletGrain>(userId);
        if (body.Amount is < 0 and var negative)
        {
            if (ApiRequest.Amount(-negative, MaxAdminUsd, out var debit) is { } badDebit) return badDebit;
            var result = await wallet.Debit(new DebitRequest(key, LedgerEntryKind.Adjustment, debit, reason));
            return result.Succeeded
                ? TypedResults.Created($"/v1/wallets/{userId}/ledger", new CreditDto(-result.Amount.ToUsd(), result.Seq, null, result.BalanceAfter.ToUsd()))
                : ApiProblems.From(result);
        }
        if (ApiRequest.Amount(body.Amount, MaxAdminUsd, out var amount) is { } bad) return bad;
        return Credited(await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Adjustment, amount, reason)), userId);
    }

    private static async Task<Results<Created<CreditDto>, ProblemHttpResult>> Refund(string userId, RefundRequest body, HttpRequest request, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Amount(body.Amount, MaxAdminUsd, out var amount) is { } bad) return bad;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        return Credited(await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest(key, LedgerEntryKind.Refund, amount, reason)), userId);
    }

    private static Results<Created<CreditDto>, ProblemHttpResult> Credited(WalletOpResult result, string userId) =>
        result.Succeeded
            ? TypedResults.Created($"/v1/wallets/{userId}/ledger", new CreditDto(result.Amount.ToUsd(), result.Seq, result.LotId, result.BalanceAfter.ToUsd()))
            : ApiProblems.From(result);
}
