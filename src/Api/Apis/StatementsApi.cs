using System.Globalization;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

public sealed record CardDto(string? Brand, string? Last4);

/// <summary>A top-up's receipt (docs/rules.md#R-RCPT-1).</summary>
public sealed record ReceiptDto(string Number, DateTimeOffset At, decimal Amount, string PaymentId, CardDto Method, long LotId)
{
    public static ReceiptDto From(Receipt r) => new(r.Number, r.At, r.Amount.ToUsd(), r.PaymentId, new CardDto(r.Brand, r.Last4), r.LotId);
}

public sealed record StatementLineDto(string Kind, string? Key, decimal Amount, long Count);

/// <summary>A wallet's month: opening + Σ lines = closing.</summary>
public sealed record StatementDto(string UserId, string Month, decimal Opening, decimal Closing, IReadOnlyList<StatementLineDto> Lines)
{
    public static StatementDto From(MonthlyStatement s) => new(s.UserId, $"{s.Year:D4}-{s.Month:D2}", s.Opening.ToUsd(), s.Closing.ToUsd(),
        s.Lines.Select(l => new StatementLineDto(l.Kind, l.Key, l.Amount.ToUsd(), l.Count)).ToList());
}

/// <summary>Receipts of top-ups and monthly statements, as JSON, printable HTML (<c>Accept: text/html</c>) and (statements) CSV.</summary>
public static class StatementsApi
{
    private static readonly string[] Read = [ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound, ApiProblems.Forbidden];

    // R-RCPT-2: receipts as JSON or a printable page, owner and admin only.
    // R-STMT-2: statements as JSON, a printable page or CSV, owner and admin only.
    public static IEndpointRouteBuilder MapStatementsApi(this IEndpointRouteBuilder app)
    {
        var wallets = app.MapGroup("/v1/wallets/{userId}").WithTags("Wallets").RequireAuthorization();
        wallets.MapGet("/receipts", ListReceipts).WithName("ListReceipts")
            .WithSummary("Receipts of the wallet's top-ups, newest first.").Refuses(Read);
        wallets.MapGet("/receipts/{number}", GetReceipt).WithName("GetReceipt")
            .WithSummary("One receipt; with 'Accept: text/html', a printable page.").Refuses([.. Read, ReceiptNotFound]);
        wallets.MapGet("/statements/{month}.csv", GetStatementCsv).WithName("GetStatementCsv")
            .WithSummary("The monthly statement (yyyy-MM, UTC) as CSV.").Refuses(Read);
        wallets.MapGet("/statements/{month}", GetStatement).WithName("GetStatement")
            .WithSummary("The monthly statement (yyyy-MM, UTC): opening, lines by kind and instance type or model, closing; 'Accept: text/html' for a printable page, 'Accept: text/csv' for the CSV.")
            .Refuses(Read);
        return app;
    }

    public const string ReceiptNotFound = "receipt_not_found";

    private static async Task<Results<Ok<ItemsDto<ReceiptDto>>, ProblemHttpResult>> ListReceipts(
        string userId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (await cluster.GetGrain<IWalletGrain>(userId).GetBalance() is null) return ApiProblems.WalletNotFound(userId);
        var receipts = await cluster.GetGrain<IStatementGrain>(0).Receipts(userId, 1000);
        return TypedResults.Ok(new ItemsDto<ReceiptDto>(receipts.Select(ReceiptDto.From).ToList()));
    }

    private static async Task<Results<Ok<ReceiptDto>, HtmlPageResult, ProblemHttpResult>> GetReceipt(
        string userId, string number, ClaimsPrincipal caller, HttpRequest request, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (number.Length > 32) return ApiProblems.Invalid("Malformed receipt number.");
        var receipt = await cluster.GetGrain<IStatementGrain>(0).Receipt(userId, number);
        if (receipt is null) return ApiProblems.Problem(ReceiptNotFound, $"No receipt {number} for this wallet.");
        var dto = ReceiptDto.From(receipt);
        if (!HtmlPageResult.Wanted(request)) return TypedResults.Ok(dto);
        var E = HtmlPageResult.E;
        var html = $"""
            <h1>Receipt {E(dto.Number)}</h1>
            <table>
              <tr><th>Date</th><td>{dto.At:yyyy-MM-dd HH:mm:ss} UTC</td></tr>
              <tr><th>Account</th><td>{E(userId)}</td></tr>
              <tr><th>Description</th><td>Qubrid credits (purchased, never expire), lot {dto.LotId}</td></tr>
              <tr><th>Payment</th><td>{E(dto.PaymentId)}</td></tr>
              <tr><th>Paid with</th><td>{E(dto.Method.Brand ?? "card")} ending in {E(dto.Method.Last4 ?? "····")}</td></tr>
              <tr><th>Amount</th><td class="n">{Usd(dto.Amount)} USD</td></tr>
            </table>
            """;
        return new HtmlPageResult($"Receipt {dto.Number}", html);
    }

    private static async Task<Results<Ok<StatementDto>, HtmlPageResult, CsvFileResult, ProblemHttpResult>> GetStatement(
        string userId, string month, ClaimsPrincipal caller, HttpRequest request, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (ParseMonth(month, out var year, out var m) is { } bad) return bad;
        var statement = await cluster.GetGrain<IStatementGrain>(0).Statement(userId, year, m);
        if (!statement.WalletExists) return ApiProblems.WalletNotFound(userId);
        var dto = StatementDto.From(statement);
        // The CSV too, for 'Accept: text/csv': so the path template also describes every answer of /statements/{month}.csv,
        // which a router that reads the document may take for this one (its {month} matches "2026-11.csv").
        if (HtmlPageResult.Prefers(request, CsvFileResult.MediaType)) return StatementCsv(userId, dto);
        if (!HtmlPageResult.Wanted(request)) return TypedResults.Ok(dto);
        var E = HtmlPageResult.E;
        var rows = new StringBuilder();
        foreach (var line in dto.Lines)
            rows.Append(CultureInfo.InvariantCulture, $"<tr><td>{E(Label(line.Kind, line.Key))}</td><td class=\"n\">{line.Count}</td><td class=\"n\">{Usd(line.Amount)}</td></tr>\n");
        var html = $"""
            <h1>Statement {E(dto.Month)}</h1>
            <p>Account {E(userId)} · {E(dto.Month)}-01 00:00 to the end of the month, UTC · amounts in USD</p>
            <table>
              <thead><tr><th>Line</th><th class="n">Entries</th><th class="n">Amount</th></tr></thead>
              <tbody>
                <tr><td>Opening balance</td><td></td><td class="n">{Usd(dto.Opening)}</td></tr>
                {rows}
              </tbody>
              <tfoot><tr><td>Closing balance</td><td></td><td class="n">{Usd(dto.Closing)}</td></tr></tfoot>
            </table>
            """;
        return new HtmlPageResult($"Statement {dto.Month}", html);
    }

    private static async Task<Results<CsvFileResult, ProblemHttpResult>> GetStatementCsv(string userId, string month, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (WalletsApi.Access(caller, userId) is { } denied) return denied;
        if (ParseMonth(month, out var year, out var m) is { } bad) return bad;
        var statement = await cluster.GetGrain<IStatementGrain>(0).Statement(userId, year, m);
        if (!statement.WalletExists) return ApiProblems.WalletNotFound(userId);
        return StatementCsv(userId, StatementDto.From(statement));
    }

    private static CsvFileResult StatementCsv(string userId, StatementDto dto)
    {
        var csv = new StringBuilder("line,kind,key,count,amount\r\n");
        csv.Append(CultureInfo.InvariantCulture, $"opening,,,,{Usd(dto.Opening)}\r\n");
        foreach (var line in dto.Lines)
            csv.Append(CultureInfo.InvariantCulture, $"line,{LedgerCsv.Cell(line.Kind)},{LedgerCsv.Cell(line.Key ?? "")},{line.Count},{Usd(line.Amount)}\r\n");
        csv.Append(CultureInfo.InvariantCulture, $"closing,,,,{Usd(dto.Closing)}\r\n");
        var bytes = Encoding.UTF8.GetBytes(csv.ToString());
        return new CsvFileResult((body, ct) => body.WriteAsync(bytes, ct).AsTask(), $"qubrid-statement-{userId}-{dto.Month}.csv");
    }

    private static ProblemHttpResult? ParseMonth(string text, out int year, out int month)
    {
        year = month = 0;
        if (!DateTime.TryParseExact(text, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed) || parsed.Year < 2000 || parsed.Year > 9998)
            return ApiProblems.Invalid("The month must be yyyy-MM (UTC), e.g. 2026-11.");
        (year, month) = (parsed.Year, parsed.Month);
        return null;
    }

    private static string Usd(decimal amount) => amount.ToString("0.00####", CultureInfo.InvariantCulture);

    private static string Label(string kind, string? key) => (kind, key) switch
    {
        ("expiration", { } lotKind) => $"Expired ({lotKind} credits)",
        (_, { } k) => $"{kind.Replace('_', ' ')}: {k}",
        _ => kind.Replace('_', ' '),
    };
}
