using System.Net;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;
using static Qubrid.Tests.Infrastructure.HttpJson;

namespace Qubrid.Tests.Api;

/// <summary>Voids of grants, refunds to the card with their credit notes, and the credits report over HTTP (docs/rules.md: voids and refunds).</summary>
[Collection(ApiCollection.Name)]
public class RefundsApiTests(ApiHost api)
{
    private static string Key() => Guid.NewGuid().ToString("N");

    private static async Task<string> CodeOf(HttpResponseMessage response) => (await Json(response)).GetProperty("code").GetString()!;

    private async Task<JsonElement> TopupAsync(HttpClient user, string userId, decimal usd, string token)
    {
        var paid = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = usd, paymentToken = token }, Key()));
        Assert.Equal(HttpStatusCode.Created, paid.StatusCode);
        return await Json(paid);
    }

    [Fact]
    [Trait("Rule", "R-VOID-1")]
    public async Task A_void_takes_what_is_not_held_says_what_stays_and_answers_every_refusal_with_its_code()
    {
        var (userId, user) = await api.NewUserAsync("voidapi");
        using var admin = api.Client(api.AdminKey);
        using var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var hold = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds",
            new { amount = 2m, expiresAt = api.Clock.GetUtcNow().AddMinutes(30), reference = "job" }, Key()));
        Assert.Equal(HttpStatusCode.Created, hold.StatusCode);
        const long bonusLot = 1; // the sign-up bonus is the wallet's first entry, and a lot's id is its entry's seq

        var key = Key();
        var voided = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/{bonusLot}/void", new { reason = "granted by mistake" }, key));
        Assert.Equal(HttpStatusCode.OK, voided.StatusCode);
        var body = await Json(voided);
        Assert.Equal(3m, body.GetProperty("voided").GetDecimal());
        Assert.Equal(2m, body.GetProperty("remaining").GetDecimal());
        var again = await Json(await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/{bonusLot}/void", new { reason = "granted by mistake" }, key)));
        Assert.Equal(body.GetProperty("seq").GetInt64(), again.GetProperty("seq").GetInt64());
        var other = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/{bonusLot}/void", new { reason = "another reason" }, key));
        Assert.Equal("idempotency_conflict", await CodeOf(other));
        var held = await Json(await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/{bonusLot}/void", new { reason = "again" }, Key())));
        Assert.Equal(0m, held.GetProperty("voided").GetDecimal());
        Assert.Equal(2m, held.GetProperty("remaining").GetDecimal());

        var ledger = (await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger?kind=grant_void"))).GetProperty("items");
        var entry = Assert.Single(ledger.EnumerateArray());
        Assert.Equal(-3m, entry.GetProperty("amount").GetDecimal());

        var purchased = (await TopupAsync(user, userId, 10m, "tok_visa")).GetProperty("lotId").GetInt64();
        var notVoidable = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/{purchased}/void", new { reason = "no" }, Key()));
        Assert.Equal(HttpStatusCode.Conflict, notVoidable.StatusCode);
        Assert.Equal("lot_not_voidable", await CodeOf(notVoidable));
        var unknownLot = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/99999/void", new { reason = "no" }, Key()));
        Assert.Equal(HttpStatusCode.NotFound, unknownLot.StatusCode);
        Assert.Equal("lot_not_found", await CodeOf(unknownLot));
        var unknownWallet = await admin.SendAsync(ApiHost.Post($"/v1/wallets/nobody-{Guid.NewGuid():N}/lots/1/void", new { reason = "no" }, Key()));
        Assert.Equal("wallet_not_found", await CodeOf(unknownWallet));
        Assert.Equal("idempotency_key_required", await CodeOf(await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/1/void", new { reason = "no" }))));
        Assert.Equal("invalid_request", await CodeOf(await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/1/void", new { reason = "" }, Key()))));
    }

    [Fact]
    [Trait("Rule", "R-REFUND-1")]
    [Trait("Rule", "R-REFUND-2")]
    [Trait("Rule", "R-REFUND-3")]
    [Trait("Rule", "R-REFUND-4")]
    public async Task Partial_refunds_to_the_card_add_up_to_the_unspent_purchase_each_with_the_next_credit_note()
    {
        var (userId, user) = await api.NewUserAsync("refundapi");
        using var admin = api.Client(api.AdminKey);
        var paymentId = (await TopupAsync(user, userId, 20m, "tok_visa")).GetProperty("paymentId").GetString()!;

        var key = Key();
        var first = await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 8m, reason = "customer asked" }, key));
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var one = await Json(first);
        Assert.Equal("succeeded", one.GetProperty("status").GetString());
        Assert.Equal(8m, one.GetProperty("amount").GetDecimal());
        var note = one.GetProperty("creditNote").GetString()!;
        Assert.Matches(@"^QC-CN-\d{4}-\d{6,}$", note);

        var replay = await Json(await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 8m, reason = "customer asked" }, key)));
        Assert.Equal(one.GetProperty("refundId").GetString(), replay.GetProperty("refundId").GetString());
        Assert.Equal(note, replay.GetProperty("creditNote").GetString());
        var conflict = await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 9m, reason = "customer asked" }, key));
        Assert.Equal("idempotency_conflict", await CodeOf(conflict));

        var tooMuch = await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 12.000001m, reason = "rest" }, Key()));
        Assert.Equal((HttpStatusCode)422, tooMuch.StatusCode);
        Assert.Equal("refund_exceeds_remaining", await CodeOf(tooMuch));
        var rest = await Json(await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 12m, reason = "rest" }, Key())));
        Assert.Equal("succeeded", rest.GetProperty("status").GetString());
        Assert.Equal(Serial(note) + 1, Serial(rest.GetProperty("creditNote").GetString()!)); // the next number: nothing else refunded in between

        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(0m, wallet.GetProperty("purchased").GetDecimal());
        Assert.Equal(2, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'card_refund'", userId));
        Assert.Equal(2, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind = 'refund_succeeded'", userId));
        Assert.Equal(2000_0000, await TestDatabase.ScalarAsync(api.Db, "SELECT sum(amount) FROM qubrid_sandbox_refunds WHERE payment_id = $1", paymentId));
        var listed = (await Json(await user.GetAsync($"/v1/wallets/{userId}/refunds"))).GetProperty("items");
        Assert.Equal(2, listed.GetArrayLength());
        var month = api.Clock.GetUtcNow().ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var lines = (await Json(await user.GetAsync($"/v1/wallets/{userId}/statements/{month}"))).GetProperty("lines").EnumerateArray();
        var refundLine = Assert.Single(lines, l => l.GetProperty("kind").GetString() == "card_refund");
        Assert.Equal(-20m, refundLine.GetProperty("amount").GetDecimal());
        Assert.Equal(2, refundLine.GetProperty("count").GetInt64());

        var unknown = await admin.SendAsync(ApiHost.Post($"/v1/payments/pay_{Guid.NewGuid():N}/refunds", new { amount = 1m, reason = "x" }, Key()));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("payment_not_found", await CodeOf(unknown));
        Assert.Equal("invalid_amount", await CodeOf(await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 0m, reason = "x" }, Key()))));
    }

    private static long Serial(string creditNote) => long.Parse(creditNote[(creditNote.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    [Trait("Rule", "R-REFUND-2")]
    [Trait("Rule", "R-REFUND-4")]
    public async Task A_refund_the_gateway_refuses_answers_refund_failed_and_writes_nothing_to_the_ledger()
    {
        var (userId, user) = await api.NewUserAsync("refundfail");
        using var admin = api.Client(api.AdminKey);
        var paymentId = (await TopupAsync(user, userId, 10m, "tok_refundFails")).GetProperty("paymentId").GetString()!;
        var entries = await LedgerRowsAsync(userId);

        var failed = await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 4m, reason = "customer asked" }, Key()));

        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        Assert.Equal("refund_failed", await CodeOf(failed));
        Assert.Equal(entries, await LedgerRowsAsync(userId));
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind = 'refund_failed'", userId));
        Assert.Equal(15m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("available").GetDecimal());
        var listed = Assert.Single((await Json(await user.GetAsync($"/v1/wallets/{userId}/refunds"))).GetProperty("items").EnumerateArray());
        Assert.Equal("failed", listed.GetProperty("status").GetString());
    }

    [Fact]
    [Trait("Rule", "R-REPORT-1")]
    public async Task The_credits_report_moves_by_exactly_what_the_ledger_moved()
    {
        using var admin = api.Client(api.AdminKey);
        var month = api.Clock.GetUtcNow().ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var before = await Json(await admin.GetAsync($"/v1/reports/credits?month={month}"));
        var (userId, user) = await api.NewUserAsync("reportapi"); // a 5 USD sign-up bonus
        var paymentId = (await TopupAsync(user, userId, 30m, "tok_visa")).GetProperty("paymentId").GetString()!;
        using var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var premium = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "flux-pro-image" }, Key()));
        Assert.Equal(HttpStatusCode.Created, premium.StatusCode);
        (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/lots/1/void", new { reason = "report" }, Key()))).EnsureSuccessStatusCode();
        (await admin.SendAsync(ApiHost.Post($"/v1/payments/{paymentId}/refunds", new { amount = 7m, reason = "report" }, Key()))).EnsureSuccessStatusCode();

        var after = await Json(await admin.GetAsync($"/v1/reports/credits?month={month}"));
        Assert.Equal(month, after.GetProperty("month").GetString());
        decimal Delta(string part, string name) => after.GetProperty(part).GetProperty(name).GetDecimal() - before.GetProperty(part).GetProperty(name).GetDecimal();
        var spent = -await LedgerSumAsync(userId, "premium_access");
        var promoConsumed = Math.Min(spent, 5m);
        Assert.Equal(5m, Delta("promotional", "granted"));
        Assert.Equal(promoConsumed, Delta("promotional", "consumed"));
        Assert.Equal(5m - promoConsumed, Delta("promotional", "voided"));
        Assert.Equal(0m, Delta("promotional", "expired"));
        Assert.Equal(30m, Delta("purchased", "bought"));
        Assert.Equal(spent - promoConsumed, Delta("purchased", "consumed"));
        Assert.Equal(7m, Delta("purchased", "refunded"));
        Assert.Equal(30m - (spent - promoConsumed) - 7m, Delta("purchased", "outstanding"));
        var bad = await admin.GetAsync("/v1/reports/credits?month=2026-13");
        Assert.Equal("invalid_request", await CodeOf(bad));
    }

    private Task<long> LedgerRowsAsync(string userId) => TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", userId);

    private async Task<decimal> LedgerSumAsync(string userId, string kind) =>
        await TestDatabase.ScalarAsync(api.Db, "SELECT coalesce(sum(amount), 0) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = $2", userId, kind) / 1_000_000m;
}
