using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;
using Qubrid.Api.Payments;

namespace Qubrid.Api.Apis;

/// <summary>Wallets: balance, lots, ledger (JSON and CSV), usage, top-ups, and the admin's grants, adjustments and refunds.</summary>
public static class WalletsApi
{
    public static IEndpointRouteBuilder MapWalletsApi(this IEndpointRouteBuilder app)
    {
        var wallets = app.MapGroup("/v1/wallets/{userId}").WithTags("Wallets").RequireAuthorization();

        wallets.MapPut("", CreateWallet).RequireAuthorization(Policies.Admin)
            .WithSummary("Create the wallet (the sign-up bonus is granted once); a repeat is harmless.");
        wallets.MapGet("", GetWallet).WithSummary("Balance: total, promotional with next expiry, purchased, burn rate, runway, running sessions.")
            .ProducesProblem(404);
        wallets.MapGet("/lots", GetLots).WithSummary("Credit lots with what remains and when they expire.").ProducesProblem(404);
        wallets.MapGet("/ledger", GetLedger).WithSummary("Transaction history, newest first, with a cursor.").ProducesProblem(400).ProducesProblem(404);
        wallets.MapGet("/ledger.csv", GetLedgerCsv).WithSummary("The transaction history as CSV.").ProducesProblem(404);
        wallets.MapGet("/usage", GetUsage).WithSummary("Spending grouped by day, instance type, model or workload.").ProducesProblem(400).ProducesProblem(404);
        wallets.MapPost("/topups", Topup).RequireAuthorization(Policies.User)
            .WithSummary("Buy credits by card (Idempotency-Key required). Test tokens: tok_visa, tok_chargeDeclined, tok_processingError.")
            .ProducesProblem(400).ProducesProblem(402).ProducesProblem(404).ProducesProblem(409).ProducesProblem(502);
        wallets.MapPost("/grants", Grant).RequireAuthorization(Policies.Admin)
            .WithSummary("Grant promotional credits that expire.").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        wallets.MapPost("/adjustments", Adjust).RequireAuthorization(Policies.Admin)
            .WithSummary("A signed correction with a mandatory reason.").ProducesProblem(400).ProducesProblem(402).ProducesProblem(404).ProducesProblem(409);
        wallets.MapPost("/refunds", Refund).RequireAuthorization(Policies.Admin)
            .WithSummary("Give credits back (as a non-expiring lot) with a reason.").ProducesProblem(400).ProducesProblem(404).ProducesProblem(409);
        return app;
    }

    /// <summary>Admin: any wallet. User: only their own (another's is "not found"). Orchestrator: none.</summary>
    public static ProblemHttpResult? Access(ClaimsPrincipal caller, string userId)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (caller.CanSeeWallet(userId)) return null;
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
        if (Access(caller, userId) is { } denied) return denied;
        var balance = await cluster.GetGrain<IWalletGrain>(userId).GetBalance();
        return balance is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(WalletDto.From(balance));
    }

    private static async Task<Results<Ok<ItemsDto<LotDto>>, ProblemHttpResult>> GetLots(string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (Access(caller, userId) is { } denied) return denied;
        var lots = await cluster.GetGrain<IWalletGrain>(userId).GetLots();
        return lots is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(new ItemsDto<LotDto>(lots.Select(LotDto.From).ToList()));
    }

    private static async Task<Results<Ok<LedgerPageDto>, ProblemHttpResult>> GetLedger(string userId, ClaimsPrincipal caller, IClusterClient cluster, HttpRequest request)
    {
        if (Access(caller, userId) is { } denied) return denied;
        if (ParseLedgerQuery(request.Query, out var query) is { } invalid) return invalid;
        var page = await cluster.GetGrain<IWalletGrain>(userId).GetLedger(query);
        return page is null
            ? ApiProblems.WalletNotFound(userId)
            : TypedResults.Ok(new LedgerPageDto(page.Items.Select(LedgerEntryDto.From).ToList(), page.NextBefore?.ToString(CultureInfo.InvariantCulture)));
    }

    private static async Task<Results<CsvFileResult, ProblemHttpResult>> GetLedgerCsv(string userId, ClaimsPrincipal caller, IClusterClient cluster, HttpRequest request)
    {
        if (Access(caller, userId) is { } denied) return denied;
        if (ParseLedgerQuery(request.Query, out var query) is { } invalid) return invalid;
        var wallet = cluster.GetGrain<IWalletGrain>(userId);
        var csv = await LedgerCsv.OpenAsync(wallet.GetLedger, query, $"qubrid-ledger-{userId}.csv");
        return csv ?? (Results<CsvFileResult, ProblemHttpResult>)ApiProblems.WalletNotFound(userId);
    }

    /// <summary>kind (comma-separated), from, to (ISO-8601), cursor, limit (1–500).</summary>
    public static ProblemHttpResult? ParseLedgerQuery(IQueryCollection q, out LedgerQuery query)
    {
        query = new LedgerQuery();
        var kinds = new List<LedgerEntryKind>();
        foreach (var raw in q["kind"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!LedgerKinds.TryParse(raw, out var kind))
                return ApiProblems.Invalid($"Unknown kind '{raw}'. Kinds: {string.Join(", ", Enum.GetValues<LedgerEntryKind>().Select(k => k.ToWire()))}.");
            kinds.Add(kind);
        }
        if (ParseTime(q, "from", out var from) is { } badFrom) return badFrom;
        if (ParseTime(q, "to", out var to) is { } badTo) return badTo;
        long? before = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursor)
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq <= 0) return ApiProblems.Invalid("Malformed cursor.");
            before = seq;
        }
        int limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > LedgerQuery.MaxLimit))
            return ApiProblems.Invalid($"limit must be 1–{LedgerQuery.MaxLimit}.");
        query = new LedgerQuery(kinds.Count > 0 ? kinds : null, from, to, before, limit);
        return null;
    }

    /// <summary>The times a query may name: no ledger entry is older than the epoch, and the calendar's edges are not arithmetic's.</summary>
    private static readonly DateTimeOffset EarliestTime = DateTimeOffset.UnixEpoch, LatestTime = new(9999, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static ProblemHttpResult? ParseTime(IQueryCollection q, string name, out DateTimeOffset? value)
    {
        value = null;
        var raw = q[name].ToString();
        if (raw.Length == 0) return null;
        if (!DateTimeOffset.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var parsed))
            return ApiProblems.Invalid($"'{name}' must be an ISO-8601 time, e.g. 2026-01-31T00:00:00Z.");
        if (parsed < EarliestTime || parsed > LatestTime)
            return ApiProblems.Invalid($"'{name}' must lie between {EarliestTime:yyyy-MM-dd} and {LatestTime:yyyy-MM-dd}.");
        value = parsed;
        return null;
    }

    private static async Task<Results<Ok<UsageDto>, ProblemHttpResult>> GetUsage(
        string userId, ClaimsPrincipal caller, IClusterClient cluster, HttpRequest request, TimeProvider time)
    {
        if (Access(caller, userId) is { } denied) return denied;
        if (ParseTime(request.Query, "from", out var fromQ) is { } badFrom) return badFrom;
        if (ParseTime(request.Query, "to", out var toQ) is { } badTo) return badTo;
        var to = toQ ?? time.GetUtcNow();
        var from = fromQ ?? to.AddDays(-30);
        if (from >= to || to - from > TimeSpan.FromDays(366)) return ApiProblems.Invalid("'from' must be before 'to', at most 366 days apart.");
        var groupBy = request.Query["groupBy"].ToString() is { Length: > 0 } g ? g : UsageReport.Day;
        if (!UsageReport.Groupings.Contains(groupBy)) return ApiProblems.Invalid("groupBy must be day, instanceType, model or workload.");
        var rows = await cluster.GetGrain<IWalletGrain>(userId).GetUsage(new UsageQuery(from, to));
        return rows is null ? ApiProblems.WalletNotFound(userId) : TypedResults.Ok(UsageReport.Build(rows, groupBy, from, to));
    }

    private static async Task<Results<Created<TopupResult>, ProblemHttpResult>> Topup(string userId, TopupRequest body, ClaimsPrincipal caller, HttpRequest request,
        TopupService topups, IPaymentGateway gateway, IOptions<TopupOptions> options, CancellationToken ct)
    {
        if (Access(caller, userId) is { } denied) return denied;
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
        if (ApiRequest.Amount(body.Amount, 1_000_000m, out var amount) is { } bad) return bad;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        if (body.ExpiresAt is not { } expiresAt || expiresAt <= time.GetUtcNow())
            return ApiProblems.Invalid("Promotional credits need an 'expiresAt' in the future.");
        return Credited(await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest(key, LedgerEntryKind.Grant, amount, reason, expiresAt)), userId);
    }

    private static async Task<Results<Created<CreditDto>, ProblemHttpResult>> Adjust(string userId, AdjustmentRequest body, HttpRequest request, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        var wallet = cluster.GetGrain<IWalletGrain>(userId);
        if (body.Amount is < 0 and var negative)
        {
            if (ApiRequest.Amount(-negative, 1_000_000m, out var debit) is { } badDebit) return badDebit;
            var result = await wallet.Debit(new DebitRequest(key, LedgerEntryKind.Adjustment, debit, reason));
            return result.Succeeded
                ? TypedResults.Created($"/v1/wallets/{userId}/ledger", new CreditDto(-result.Amount.ToUsd(), result.Seq, null, result.BalanceAfter.ToUsd()))
                : ApiProblems.From(result);
        }
        if (ApiRequest.Amount(body.Amount, 1_000_000m, out var amount) is { } bad) return bad;
        return Credited(await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Adjustment, amount, reason)), userId);
    }

    private static async Task<Results<Created<CreditDto>, ProblemHttpResult>> Refund(string userId, RefundRequest body, HttpRequest request, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("user id");
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (ApiRequest.Amount(body.Amount, 1_000_000m, out var amount) is { } bad) return bad;
        if (ApiRequest.Reason(body.Reason, out var reason) is { } noReason) return noReason;
        return Credited(await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest(key, LedgerEntryKind.Refund, amount, reason)), userId);
    }

    private static Results<Created<CreditDto>, ProblemHttpResult> Credited(WalletOpResult result, string userId) =>
        result.Succeeded
            ? TypedResults.Created($"/v1/wallets/{userId}/ledger", new CreditDto(result.Amount.ToUsd(), result.Seq, result.LotId, result.BalanceAfter.ToUsd()))
            : ApiProblems.From(result);
}
