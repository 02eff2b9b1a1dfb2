using System.Net;
using System.Net.Http.Json;
using Qubrid.Tests.Infrastructure;
using static Qubrid.Tests.Infrastructure.HttpJson;

namespace Qubrid.Tests.Api;

/// <summary>Holds, spending limits and auto top-up (docs/rules.md), through HTTP as clients call them.</summary>
[Collection(ApiCollection.Name)]
public class SpendControlsApiTests(ApiHost api)
{
    private static string Key() => Guid.NewGuid().ToString("N");

    [Fact]
    [Trait("Rule", "R-HOLD-1")]
    [Trait("Rule", "R-HOLD-4")]
    public async Task A_hold_reserves_funds_a_query_within_it_is_never_refused_and_the_rest_is_released()
    {
        var (userId, user) = await api.NewUserAsync("hold");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var expiresAt = api.Clock.GetUtcNow().AddMinutes(30);
        var key = Key();
        var created = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", new { amount = 4.5m, expiresAt, reference = "job-1" }, key));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var hold = await Json(created);
        var holdId = hold.GetProperty("holdId").GetString()!;
        Assert.Equal("active", hold.GetProperty("state").GetString());
        // The same key answers the same hold; the wallet shows it held.
        var again = await Json(await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", new { amount = 4.5m, expiresAt, reference = "job-1" }, key)));
        Assert.Equal(holdId, again.GetProperty("holdId").GetString());
        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(5m, wallet.GetProperty("total").GetDecimal());
        Assert.Equal(4.5m, wallet.GetProperty("held").GetDecimal());
        Assert.Equal(0.5m, wallet.GetProperty("available").GetDecimal());
        // Not available: a premium charge of 1 USD is refused, nothing debited.
        Assert.Equal(HttpStatusCode.PaymentRequired, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges",
            new { userId, name = "premium-model-access" }, Key()))).StatusCode);
        var listed = await Json(await user.GetAsync($"/v1/wallets/{userId}/holds"));
        Assert.Equal(holdId, Assert.Single(listed.GetProperty("items").EnumerateArray()).GetProperty("holdId").GetString());

        // A query within the hold is charged from it; the rest of the hold is released.
        var charged = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
            new { userId, model = "llama-3.1-8b-instruct", inputTokens = 1_000_000, outputTokens = 0, holdId }, Key()));
        Assert.Equal(HttpStatusCode.Created, charged.StatusCode);
        wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(0m, wallet.GetProperty("held").GetDecimal());
        Assert.Equal(wallet.GetProperty("total").GetDecimal(), wallet.GetProperty("available").GetDecimal());
        Assert.Empty((await Json(await user.GetAsync($"/v1/wallets/{userId}/holds"))).GetProperty("items").EnumerateArray());

        // The hold is settled: capturing it is 409; an unknown hold is 404.
        var capture = await orchestrator.SendAsync(ApiHost.Post($"/v1/holds/{holdId}/capture", new { amount = 1m }, Key()));
        Assert.Equal(HttpStatusCode.Conflict, capture.StatusCode);
        Assert.Equal("hold_not_active", (await Json(capture)).GetProperty("code").GetString());
        var unknown = await orchestrator.SendAsync(ApiHost.Post($"/v1/holds/hold_999_{userId}/capture", new { amount = 1m }, Key()));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("hold_not_found", (await Json(unknown)).GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-HOLD-3")]
    public async Task A_capture_takes_at_most_the_hold_is_idempotent_and_a_void_releases_it()
    {
        var (userId, user) = await api.NewUserAsync("capture");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var expiresAt = api.Clock.GetUtcNow().AddMinutes(30);
        var holdId = (await Json(await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds",
            new { amount = 2m, expiresAt, reference = "render" }, Key())))).GetProperty("holdId").GetString()!;
        var over = await orchestrator.SendAsync(ApiHost.Post($"/v1/holds/{holdId}/capture", new { amount = 2.000001m }, Key()));
        Assert.Equal((HttpStatusCode)422, over.StatusCode);
        Assert.Equal("capture_exceeds_hold", (await Json(over)).GetProperty("code").GetString());
        var key = Key();
        var captured = await orchestrator.SendAsync(ApiHost.Post($"/v1/holds/{holdId}/capture", new { amount = 1.25m }, key));
        Assert.Equal(HttpStatusCode.OK, captured.StatusCode);
        var body = await Json(captured);
        Assert.Equal("captured", body.GetProperty("state").GetString());
        Assert.Equal(1.25m, body.GetProperty("captured").GetDecimal());
        Assert.Equal(HttpStatusCode.OK, (await orchestrator.SendAsync(ApiHost.Post($"/v1/holds/{holdId}/capture", new { amount = 1.25m }, key))).StatusCode);
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'hold_capture'", userId));
        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(3.75m, wallet.GetProperty("total").GetDecimal());

        var second = (await Json(await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds",
            new { amount = 1m, expiresAt, reference = "other" }, Key())))).GetProperty("holdId").GetString()!;
        var voided = await orchestrator.SendAsync(new HttpRequestMessage(HttpMethod.Post, $"/v1/holds/{second}/void") { Headers = { { "Idempotency-Key", Key() } } });
        Assert.Equal("voided", (await Json(voided)).GetProperty("state").GetString());
        Assert.Equal(3.75m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("available").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-HOLD-2")]
    public async Task A_hold_is_refused_when_not_available_or_its_expiry_is_out_of_bounds_and_nothing_is_written()
    {
        var (userId, _) = await api.NewUserAsync("holdbad");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var tooMuch = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", new { amount = 5.01m, expiresAt = api.Clock.GetUtcNow().AddHours(1), reference = "x" }, Key()));
        Assert.Equal(HttpStatusCode.PaymentRequired, tooMuch.StatusCode);
        Assert.Equal("insufficient_credits", (await Json(tooMuch)).GetProperty("code").GetString());
        var tooFar = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", new { amount = 1m, expiresAt = api.Clock.GetUtcNow().AddHours(25), reference = "x" }, Key()));
        Assert.Equal(HttpStatusCode.BadRequest, tooFar.StatusCode);
        Assert.Equal("invalid_expiry", (await Json(tooFar)).GetProperty("code").GetString());
        var past = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", new { amount = 1m, expiresAt = api.Clock.GetUtcNow().AddMinutes(-1), reference = "x" }, Key()));
        Assert.Equal("invalid_expiry", (await Json(past)).GetProperty("code").GetString());
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_holds WHERE wallet_id = $1", userId));
    }

    [Fact]
    [Trait("Rule", "R-LIMIT-1")]
    public async Task A_debit_landing_exactly_on_the_limit_passes_and_the_next_is_refused_with_spend_limit_exceeded()
    {
        var (userId, user) = await api.NewUserAsync("limit");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var set = await user.PutAsJsonAsync($"/v1/wallets/{userId}/limits", new { perHour = 2m, perDay = (decimal?)null, perMonth = (decimal?)null });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.Equal(2m, (await Json(set)).GetProperty("perHour").GetDecimal());
        // The admin's limit is stored apart; the lower applies.
        var admin = api.Client(api.AdminKey);
        var both = await Json(await admin.PutAsJsonAsync($"/v1/wallets/{userId}/limits", new { perHour = 3m }));
        Assert.Equal(2m, both.GetProperty("perHour").GetDecimal());
        Assert.Equal(3m, both.GetProperty("admin").GetProperty("perHour").GetDecimal());

        foreach (var _ in Enumerable.Range(0, 2))
            Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, Key()))).StatusCode);
        var key = Key();
        var refused = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, key));
        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        Assert.Equal("spend_limit_exceeded", (await Json(refused)).GetProperty("code").GetString());
        // Recorded: the key answers the refusal again even once the owner lifts the limit.
        await user.PutAsJsonAsync($"/v1/wallets/{userId}/limits", new { perHour = 10m });
        Assert.Equal(HttpStatusCode.PaymentRequired, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, key))).StatusCode);
        var limits = await Json(await user.GetAsync($"/v1/wallets/{userId}/limits"));
        Assert.Equal(3m, limits.GetProperty("perHour").GetDecimal()); // now the admin's is the lower
        Assert.Equal(2m, limits.GetProperty("spent").GetProperty("hour").GetDecimal());
        var events = await TestDatabase.ScalarAsync(api.Db,
            "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind IN ('spend_limit_warning', 'spend_limit_reached')", userId);
        Assert.Equal(2, events);
        var badLimit = await user.PutAsJsonAsync($"/v1/wallets/{userId}/limits", new { perHour = -1m });
        Assert.Equal("invalid_limit", (await Json(badLimit)).GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-AUTO-1")]
    public async Task Auto_top_up_buys_back_to_the_target_the_moment_a_debit_crosses_the_threshold_once()
    {
        var (userId, user) = await api.NewUserAsync("auto");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var invalid = await user.PutAsJsonAsync($"/v1/wallets/{userId}/auto-topup", new { enabled = true, threshold = 10m, target = 5m, paymentToken = "tok_visa", monthlyCap = 100m });
        Assert.Equal("invalid_auto_topup", (await Json(invalid)).GetProperty("code").GetString());
        var set = await user.PutAsJsonAsync($"/v1/wallets/{userId}/auto-topup", new { enabled = true, threshold = 4m, target = 20m, paymentToken = "tok_visa", monthlyCap = 100m });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        Assert.DoesNotContain("tok_visa", await set.Content.ReadAsStringAsync());

        // 5 USD sign-up bonus − 2 USD of premium access = 3 USD < 4: one top-up of 17 USD brings it to 20.
        using var settled = BillingSignals<BillingDiagnostics.AutoTopupSettled>.Where(s => s.WalletId == userId);
        foreach (var _ in Enumerable.Range(0, 2))
            Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, Key()))).StatusCode);
        // The attempt runs after the charge that crossed the threshold was answered; the wallet commits its outcome after the credit.
        var attempt = Assert.Single(await settled.UntilAsync(s => s.Count >= 1, TimeSpan.FromSeconds(30), "the auto top-up settled"));
        Assert.Equal((1L, true), (attempt.Attempt, attempt.Succeeded));
        Assert.Equal(20m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_payments WHERE user_id = $1", userId));
        Assert.Equal($"pay_auto_1_{userId}", await TestDatabase.ScalarTextAsync(api.Db, "SELECT reference FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'topup'", userId));
        var auto = await Json(await user.GetAsync($"/v1/wallets/{userId}/auto-topup"));
        Assert.False(auto.GetProperty("inFlight").GetBoolean());
        Assert.Equal(17m, auto.GetProperty("spentThisMonth").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-AUTO-2")]
    public async Task Three_declined_auto_top_ups_in_a_row_turn_it_off_with_an_event()
    {
        var (userId, user) = await api.NewUserAsync("autodecline");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        Assert.Equal(HttpStatusCode.OK, (await user.PutAsJsonAsync($"/v1/wallets/{userId}/auto-topup",
            new { enabled = true, threshold = 5.5m, target = 20m, paymentToken = "tok_chargeDeclined", monthlyCap = 100m })).StatusCode);
        using var settled = BillingSignals<BillingDiagnostics.AutoTopupSettled>.Where(s => s.WalletId == userId);
        // 5 USD < 5.5: each debit, once the previous attempt has settled, starts the next attempt (no wait after a failure here).
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            var charge = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", new { userId, model = "llama-3.1-8b-instruct", inputTokens = 1000, outputTokens = 0 }, Key()));
            Assert.Equal(HttpStatusCode.Created, charge.StatusCode);
            var seen = await settled.UntilAsync(s => s.Count >= attempt, TimeSpan.FromSeconds(30), $"auto top-up attempt {attempt} settled");
            Assert.Equal(attempt, seen.Count);
            Assert.Equal(((long)attempt, false), (seen[^1].Attempt, seen[^1].Succeeded));
        }
        var final = await Json(await user.GetAsync($"/v1/wallets/{userId}/auto-topup"));
        Assert.False(final.GetProperty("enabled").GetBoolean());
        Assert.Equal("payment_failed", final.GetProperty("disabledReason").GetString());
        Assert.Equal(3, final.GetProperty("consecutiveFailures").GetInt32());
        Assert.Equal(3, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_payments WHERE user_id = $1 AND status = 'declined'", userId));
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind = 'auto_topup_disabled'", userId));
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'topup'", userId));
    }

    [Fact]
    public async Task Only_the_orchestrator_holds_only_the_owner_sets_auto_top_up_and_another_users_wallet_is_not_found()
    {
        var (userId, user) = await api.NewUserAsync("holdauth");
        var (_, other) = await api.NewUserAsync("holdauth-other");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var admin = api.Client(api.AdminKey);
        var hold = new { amount = 1m, expiresAt = api.Clock.GetUtcNow().AddMinutes(5), reference = "x" };
        Assert.Equal(HttpStatusCode.Forbidden, (await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", hold, Key()))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", hold, Key()))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.Client().SendAsync(ApiHost.Post($"/v1/wallets/{userId}/holds", hold, Key()))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/v1/wallets/{userId}/holds")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/v1/wallets/{userId}/limits")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/v1/wallets/{userId}/auto-topup")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await orchestrator.GetAsync($"/v1/wallets/{userId}/limits")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await admin.PutAsJsonAsync($"/v1/wallets/{userId}/auto-topup",
            new { enabled = true, threshold = 1m, target = 2m, paymentToken = "tok_visa", monthlyCap = 10m })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.SendAsync(ApiHost.Post($"/v1/holds/hold_1_{userId}/capture", new { amount = 1m }, Key()))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await orchestrator.GetAsync($"/v1/wallets/{userId}/holds")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/v1/wallets/{userId}/limits")).StatusCode);
    }
}
