using System.Net;
using System.Net.Http.Headers;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>Receipts and monthly statements over HTTP: the shapes of R-RCPT-1 and R-STMT-1, the printable pages and the CSV.</summary>
[Collection(ApiCollection.Name)]
public class ReceiptsAndStatementsApiTests(ApiHost api)
{
    [Fact]
    [Trait("Rule", "R-RCPT-2")]
    public async Task A_topup_has_a_receipt_with_the_card_and_lot_as_json_and_as_a_printable_page()
    {
        var (userId, user) = await api.NewUserAsync("receiptapi");
        var topup = await HttpJson.Json(await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 25, paymentToken = "tok_mastercard" }, "t1")));
        var receipts = (await HttpJson.Json(await user.GetAsync($"/v1/wallets/{userId}/receipts"))).GetProperty("items");
        var receipt = Assert.Single(receipts.EnumerateArray());
        var number = receipt.GetProperty("number").GetString()!;
        Assert.Matches(@"^QC-\d{4}-\d{6,}$", number);
        Assert.Equal(25m, receipt.GetProperty("amount").GetDecimal());
        Assert.Equal(topup.GetProperty("paymentId").GetString(), receipt.GetProperty("paymentId").GetString());
        Assert.Equal(topup.GetProperty("lotId").GetInt64(), receipt.GetProperty("lotId").GetInt64());
        Assert.Equal("mastercard", receipt.GetProperty("method").GetProperty("brand").GetString());
        Assert.Equal("4444", receipt.GetProperty("method").GetProperty("last4").GetString());

        var one = await HttpJson.Json(await user.GetAsync($"/v1/wallets/{userId}/receipts/{number}"));
        Assert.Equal(number, one.GetProperty("number").GetString());
        var page = new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{userId}/receipts/{number}");
        page.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var html = await user.SendAsync(page);
        Assert.Equal("text/html", html.Content.Headers.ContentType!.MediaType);
        var text = await html.Content.ReadAsStringAsync();
        Assert.Contains(number, text);
        Assert.Contains("4444", text);

        var missing = await user.GetAsync($"/v1/wallets/{userId}/receipts/QC-1999-000001");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("receipt_not_found", (await HttpJson.Json(missing)).GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-STMT-1")]
    [Trait("Rule", "R-STMT-2")]
    public async Task The_month_statement_adds_up_and_comes_as_json_html_and_csv()
    {
        var (userId, user) = await api.NewUserAsync("stmtapi");
        (await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" }, "t1"))).EnsureSuccessStatusCode();
        // The wallet's entries are at the host clock's time (it stands still unless a test moves it), so of its month.
        var ledger = (await HttpJson.Json(await user.GetAsync($"/v1/wallets/{userId}/ledger"))).GetProperty("items");
        Assert.All(ledger.EnumerateArray(), e => Assert.Equal(api.Clock.GetUtcNow(), e.GetProperty("at").GetDateTimeOffset()));
        var month = api.Clock.GetUtcNow().ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var statement = await HttpJson.Json(await user.GetAsync($"/v1/wallets/{userId}/statements/{month}"));
        Assert.Equal(month, statement.GetProperty("month").GetString());
        var lines = statement.GetProperty("lines").EnumerateArray().ToList();
        Assert.Equal(statement.GetProperty("closing").GetDecimal(),
            statement.GetProperty("opening").GetDecimal() + lines.Sum(l => l.GetProperty("amount").GetDecimal()));
        Assert.Equal(15m, statement.GetProperty("closing").GetDecimal()); // 5 bonus + 10
        Assert.Contains(lines, l => l.GetProperty("kind").GetString() == "topup" && l.GetProperty("amount").GetDecimal() == 10m);

        var csv = await user.GetAsync($"/v1/wallets/{userId}/statements/{month}.csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType!.MediaType);
        var csvText = await csv.Content.ReadAsStringAsync();
        Assert.StartsWith("line,kind,key,count,amount", csvText);
        Assert.Contains("closing,,,,15.00", csvText);
        var negotiated = new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{userId}/statements/{month}");
        negotiated.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/csv"));
        var csvByAccept = await user.SendAsync(negotiated);
        Assert.Equal("text/csv", csvByAccept.Content.Headers.ContentType!.MediaType);
        Assert.Equal(csvText, await csvByAccept.Content.ReadAsStringAsync());

        var page = new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{userId}/statements/{month}");
        page.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        var html = await user.SendAsync(page);
        Assert.Equal("text/html", html.Content.Headers.ContentType!.MediaType);
        Assert.Contains("Closing balance", await html.Content.ReadAsStringAsync());

        foreach (var bad in new[] { "2026-13", "26-01", "2026-1", "latest" })
        {
            var refused = await user.GetAsync($"/v1/wallets/{userId}/statements/{bad}");
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal("invalid_request", (await HttpJson.Json(refused)).GetProperty("code").GetString());
        }
    }
}
