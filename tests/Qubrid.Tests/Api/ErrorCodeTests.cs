using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// Each stable error code of SPEC "Bad input" / "The HTTP API", produced over HTTP: the status, an
/// application/problem+json body with its <c>code</c>, nothing written to the wallet's ledger, and the
/// service still answering afterwards.
/// </summary>
[Collection(ApiCollection.Name)]
public class ErrorCodeTests(ApiHost api)
{
    /// <summary>A valid expiry: 30 days after the host's clock.</summary>
    private string Future => api.Clock.GetUtcNow().AddDays(30).ToString("O");

    // ---- insufficient_credits -------------------------------------------------------------------------------

    [Fact]
    [Trait("Rule", "R-INF-3")]
    public async Task An_inference_query_costing_more_than_the_wallet_holds_is_402_insufficient_credits()
    {
        var (userId, _) = await api.NewUserAsync("err-402-inf");
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        // deepseek-r1 output: 2.19 USD per million tokens, so 10M tokens cost 21.90 USD; the wallet holds the 5 USD bonus.
        var response = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
            new { userId, model = "deepseek-r1", inputTokens = 0, outputTokens = 10_000_000 }, Key()));
        await AssertRefusedAsync(response, 402, "insufficient_credits", userId, before);
        Assert.Equal(5m, await TotalAsync(userId));
    }

    [Fact]
    [Trait("Rule", "R-LOT-4")]
    public async Task A_session_start_or_premium_access_the_wallet_cannot_cover_is_402_insufficient_credits()
    {
        var (userId, _) = await api.NewUserAsync("err-402-run");
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        // Leave 0.05 USD: less than T4's 10-minute runway (0.68 / 6 = 0.113333 USD) and less than premium access (1 USD).
        var drained = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments", new { amount = -4.95m, reason = "drain for test" }, Key()));
        Assert.Equal(201, (int)drained.StatusCode);
        long before = await LedgerRowsAsync(userId);

        var sessionId = $"err-s-{Guid.NewGuid():N}";
        var start = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "T4" });
        await AssertRefusedAsync(start, 402, "insufficient_credits", userId, before);
        var session = await orchestrator.GetAsync($"/v1/sessions/{sessionId}");
        await AssertRefusedAsync(session, 404, "session_not_found", userId, before); // a refused start leaves no session behind

        var premium = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, Key()));
        await AssertRefusedAsync(premium, 402, "insufficient_credits", userId, before);
        Assert.Equal(0.05m, await TotalAsync(userId));
    }

    // ---- unknown_instance_type, unknown_model ---------------------------------------------------------------

    [Theory]
    [InlineData("NO-SUCH-GPU")]
    [InlineData("")]
    [Trait("Rule", "R-SESS-1")]
    public async Task Starting_a_session_on_an_unknown_instance_type_is_400_unknown_instance_type(string instanceType)
    {
        var (userId, _) = await api.NewUserAsync("err-type");
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        var sessionId = $"err-s-{Guid.NewGuid():N}";
        var response = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType });
        await AssertRefusedAsync(response, 400, "unknown_instance_type", userId, before);
        Assert.Equal(404, (int)(await orchestrator.GetAsync($"/v1/sessions/{sessionId}")).StatusCode);
    }

    [Theory]
    [InlineData("inference", "no-such-model")]
    [InlineData("inference", "")]
    [InlineData("premium", "no-such-premium-api")]
    [Trait("Rule", "R-INF-6")]
    public async Task Charging_an_unknown_model_is_400_unknown_model(string call, string model)
    {
        var (userId, _) = await api.NewUserAsync("err-model");
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        var response = call == "inference"
            ? await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", new { userId, model, inputTokens = 10, outputTokens = 10 }, Key()))
            : await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = model }, Key()));
        await AssertRefusedAsync(response, 400, "unknown_model", userId, before);
    }

    // ---- invalid_amount -------------------------------------------------------------------------------------

    public static TheoryData<string, string> InvalidAmounts()
    {
        var data = new TheoryData<string, string>();
        foreach (var call in new[] { "grants", "refunds", "topups", "adjustments" })
        {
            data.Add(call, "0");
            data.Add(call, call == "topups" ? "10.0000001" : "1.0000001"); // 7 decimals
            data.Add(call, "1e15");
            data.Add(call, "1e30"); // does not fit a decimal at all
            data.Add(call, "\"lots\""); // not a number
            if (call != "adjustments") data.Add(call, "-1");
        }
        // An adjustment is signed: a negative one is a debit, so its too-precise, too-large and overflowing forms are refused as well.
        data.Add("adjustments", "-1.0000001");
        data.Add("adjustments", "-1e15");
        data.Add("adjustments", "-1e30");
        data.Add("rates", "0");
        data.Add("rates", "-1");
        data.Add("rates", "1.0000001");
        data.Add("rates", "1e15");
        data.Add("rates", "1e30");
        data.Add("rates", "\"lots\"");
        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidAmounts))]
    [Trait("Rule", "R-ADMIN-2")]
    [Trait("Rule", "R-INPUT-2")]
    public async Task Zero_negative_over_precise_too_large_or_non_numeric_amounts_are_400_invalid_amount(string call, string amount)
    {
        var (userId, user) = await api.NewUserAsync("err-amount");
        var admin = api.Client(api.AdminKey);
        long before = await LedgerRowsAsync(userId);
        var rateType = $"ERR{Guid.NewGuid().ToString("N")[..12]}";
        var response = call switch
        {
            "grants" => await admin.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/grants", $$"""{"amount": {{amount}}, "expiresAt": "{{Future}}", "reason": "test"}""", Key())),
            "refunds" => await admin.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/refunds", $$"""{"amount": {{amount}}, "reason": "test"}""", Key())),
            "adjustments" => await admin.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/adjustments", $$"""{"amount": {{amount}}, "reason": "test"}""", Key())),
            "topups" => await user.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/topups", $$"""{"amount": {{amount}}, "paymentToken": "tok_visa"}""", Key())),
            _ => await admin.SendAsync(Raw(HttpMethod.Put, $"/v1/rates/{rateType}", $$"""{"usdPerHour": {{amount}}}""")),
        };
        await AssertRefusedAsync(response, 400, "invalid_amount", userId, before, $"{call} with amount {amount}");
        Assert.Equal(5m, await TotalAsync(userId));
        if (call == "rates")
        {
            var rates = await Json(await api.Client().GetAsync("/v1/rates"));
            Assert.DoesNotContain(rates.GetProperty("items").EnumerateArray(), r => r.GetProperty("instanceType").GetString() == rateType);
        }
    }

    // ---- invalid_request ------------------------------------------------------------------------------------

    private enum As { Admin, User, Orchestrator }

    private static readonly string LongId = new('a', 200);

    private static readonly Dictionary<string, (As Caller, Func<string, string, HttpRequestMessage> Build)> MalformedRequests = new() // built with the user's id and a valid expiry
    {
        ["malformed JSON in a grant"] = (As.Admin, (u, _) => Raw(HttpMethod.Post, $"/v1/wallets/{u}/grants", """{"amount": 1, "reason": """, Key())),
        ["malformed JSON in a top-up"] = (As.User, (u, _) => Raw(HttpMethod.Post, $"/v1/wallets/{u}/topups", "amount=10&paymentToken=tok_visa", Key())),
        ["an unknown field in a top-up"] = (As.User, (u, _) => Raw(HttpMethod.Post, $"/v1/wallets/{u}/topups", """{"amount": 10, "paymentToken": "tok_visa", "bonus": 100}""", Key())),
        ["an unknown field in a grant"] = (As.Admin, (u, future) => Raw(HttpMethod.Post, $"/v1/wallets/{u}/grants", $$"""{"amount": 1, "expiresAt": "{{future}}", "reason": "x", "kind": "purchased"}""", Key())),
        ["an unknown field in an inference charge"] = (As.Orchestrator, (u, _) => Raw(HttpMethod.Post, "/v1/inference/charges", $$"""{"userId": "{{u}}", "model": "deepseek-r1", "inputTokens": 1, "outputTokens": 1, "discount": 1}""", Key())),
        ["a wallet id with a space"] = (As.Admin, (_, _) => new HttpRequestMessage(HttpMethod.Get, "/v1/wallets/a%20b")),
        ["a wallet id of 200 characters"] = (As.Admin, (_, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{LongId}")),
        ["a grant to a wallet id with a space"] = (As.Admin, (_, future) => Raw(HttpMethod.Post, "/v1/wallets/a%20b/grants", $$"""{"amount": 1, "expiresAt": "{{future}}", "reason": "x"}""", Key())),
        ["an inference charge for a user id of 200 characters"] = (As.Orchestrator, (_, _) => Raw(HttpMethod.Post, "/v1/inference/charges", $$"""{"userId": "{{LongId}}", "model": "deepseek-r1", "inputTokens": 1, "outputTokens": 1}""", Key())),
        ["a session id with a space"] = (As.Orchestrator, (u, _) => Raw(HttpMethod.Post, "/v1/sessions", $$"""{"sessionId": "a b", "userId": "{{u}}", "instanceType": "T4"}""")),
        ["a session id of 200 characters in the path"] = (As.Orchestrator, (_, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/sessions/{LongId}")),
        ["an API key for a user id with a space"] = (As.Admin, (_, _) => Raw(HttpMethod.Post, "/v1/api-keys", """{"role": "user", "userId": "a b"}""")),
        ["negative token counts"] = (As.Orchestrator, (u, _) => Raw(HttpMethod.Post, "/v1/inference/charges", $$"""{"userId": "{{u}}", "model": "deepseek-r1", "inputTokens": -5, "outputTokens": 1}""", Key())),
        ["ledger kind=nope"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?kind=nope")),
        ["ledger limit=0"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?limit=0")),
        ["ledger limit=501"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?limit=501")),
        ["ledger cursor=x"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?cursor=x")),
        ["ledger cursor=-1"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?cursor=-1")),
        ["ledger from=notatime"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?from=notatime")),
        ["ledger to=notatime"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger?to=notatime")),
        ["ledger.csv kind=nope"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/ledger.csv?kind=nope")),
        ["usage groupBy=nope"] = (As.User, (u, _) => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{u}/usage?groupBy=nope")),
    };

    public static TheoryData<string> MalformedRequestNames() => new(MalformedRequests.Keys);

    [Theory]
    [MemberData(nameof(MalformedRequestNames))]
    [Trait("Rule", "R-INPUT-1")]
    public async Task Malformed_requests_are_400_invalid_request(string name)
    {
        var (userId, user) = await api.NewUserAsync("err-invalid");
        var (caller, build) = MalformedRequests[name];
        var client = caller switch { As.Admin => api.Client(api.AdminKey), As.User => user, _ => await OrchestratorAsync() };
        long before = await LedgerRowsAsync(userId);
        var response = await client.SendAsync(build(userId, Future));
        await AssertRefusedAsync(response, 400, "invalid_request", userId, before, name);
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_wallets WHERE wallet_id = ANY($1)", (object)new[] { "a b", LongId }));
    }

    // ---- idempotency_key_required, idempotency_conflict ------------------------------------------------------

    [Theory]
    [InlineData("grants")]
    [InlineData("adjustments")]
    [InlineData("refunds")]
    [InlineData("topups")]
    [InlineData("inference")]
    [InlineData("premium")]
    [Trait("Rule", "R-IDEM-1")]
    public async Task A_money_call_without_an_Idempotency_Key_is_400_idempotency_key_required(string call)
    {
        var (userId, user) = await api.NewUserAsync("err-nokey");
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        var response = call switch
        {
            "grants" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants", new { amount = 1, expiresAt = api.Clock.GetUtcNow().AddDays(1), reason = "x" })),
            "adjustments" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments", new { amount = 1, reason = "x" })),
            "refunds" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/refunds", new { amount = 1, reason = "x" })),
            "topups" => await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" })),
            "inference" => await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", new { userId, model = "deepseek-r1", inputTokens = 100, outputTokens = 100 })),
            _ => await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "flux-pro-image" })),
        };
        await AssertRefusedAsync(response, 400, "idempotency_key_required", userId, before, call);
    }

    [Theory]
    [InlineData("grants")]
    [InlineData("adjustments")]
    [InlineData("refunds")]
    [InlineData("inference")]
    [InlineData("premium")]
    [Trait("Rule", "R-IDEM-2")]
    public async Task Reusing_an_Idempotency_Key_for_a_different_request_is_409_idempotency_conflict(string call)
    {
        var (userId, _) = await api.NewUserAsync("err-conflict");
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        var key = Key();
        var expires = api.Clock.GetUtcNow().AddDays(1);
        Task<HttpResponseMessage> Send(int n) => call switch
        {
            "grants" => admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants", new { amount = n, expiresAt = expires, reason = "x" }, key)),
            "adjustments" => admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments", new { amount = n, reason = "x" }, key)),
            "refunds" => admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/refunds", new { amount = n, reason = "x" }, key)),
            "inference" => orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", new { userId, model = "deepseek-r1", inputTokens = 100 * n, outputTokens = 100 }, key)),
            _ => orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = n == 1 ? "flux-pro-image" : "premium-model-access" }, key)),
        };
        Assert.Equal(201, (int)(await Send(1)).StatusCode);
        long before = await LedgerRowsAsync(userId);
        decimal total = await TotalAsync(userId);
        await AssertRefusedAsync(await Send(2), 409, "idempotency_conflict", userId, before, call);
        Assert.Equal(total, await TotalAsync(userId));
    }

    // ---- wallet_not_found, session_not_found, session_conflict ---------------------------------------------

    [Theory]
    [InlineData("GET wallet")]
    [InlineData("GET lots")]
    [InlineData("GET ledger")]
    [InlineData("GET ledger.csv")]
    [InlineData("GET usage")]
    [InlineData("grant")]
    [InlineData("adjustment")]
    [InlineData("refund")]
    [InlineData("top-up by its own user key")]
    [InlineData("inference charge")]
    [InlineData("premium charge")]
    [InlineData("session start")]
    public async Task A_call_on_a_wallet_that_does_not_exist_is_404_wallet_not_found_and_creates_nothing(string call)
    {
        var userId = $"err-ghost-{Guid.NewGuid():N}";
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        var response = call switch
        {
            "GET wallet" => await admin.GetAsync($"/v1/wallets/{userId}"),
            "GET lots" => await admin.GetAsync($"/v1/wallets/{userId}/lots"),
            "GET ledger" => await admin.GetAsync($"/v1/wallets/{userId}/ledger"),
            "GET ledger.csv" => await admin.GetAsync($"/v1/wallets/{userId}/ledger.csv"),
            "GET usage" => await admin.GetAsync($"/v1/wallets/{userId}/usage"),
            "grant" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants", new { amount = 1, expiresAt = api.Clock.GetUtcNow().AddDays(1), reason = "x" }, Key())),
            "adjustment" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments", new { amount = 1, reason = "x" }, Key())),
            "refund" => await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/refunds", new { amount = 1, reason = "x" }, Key())),
            "top-up by its own user key" => await api.Client(await api.IssueKeyAsync("user", userId))
                .SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" }, Key())),
            "inference charge" => await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", new { userId, model = "deepseek-r1", inputTokens = 1, outputTokens = 1 }, Key())),
            "premium charge" => await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "flux-pro-image" }, Key())),
            _ => await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = $"err-s-{Guid.NewGuid():N}", userId, instanceType = "T4" }),
        };
        await AssertRefusedAsync(response, 404, "wallet_not_found", userId, 0, call);
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_wallets WHERE wallet_id = $1", userId));
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_payments WHERE user_id = $1", userId));
    }

    [Fact]
    [Trait("Rule", "R-SESS-8")]
    public async Task Reading_or_stopping_a_session_that_was_never_started_is_404_session_not_found()
    {
        var (userId, _) = await api.NewUserAsync("err-nosession");
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        var sessionId = $"err-s-{Guid.NewGuid():N}";
        await AssertRefusedAsync(await orchestrator.GetAsync($"/v1/sessions/{sessionId}"), 404, "session_not_found", userId, before, "GET");
        await AssertRefusedAsync(await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null), 404, "session_not_found", userId, before, "stop");
        await AssertRefusedAsync(await api.Client(api.AdminKey).GetAsync($"/v1/sessions/{sessionId}"), 404, "session_not_found", userId, before, "GET as admin");
    }

    [Fact]
    [Trait("Rule", "R-SESS-3")]
    public async Task Starting_a_session_id_again_with_other_parameters_is_409_session_conflict()
    {
        var (userId, _) = await api.NewUserAsync("err-sconflict");
        var (otherId, _) = await api.NewUserAsync("err-sconflict-other");
        var orchestrator = await OrchestratorAsync();
        var sessionId = $"err-s-{Guid.NewGuid():N}";
        Assert.Equal(201, (int)(await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "T4" })).StatusCode);
        Assert.Equal(200, (int)(await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null)).StatusCode);
        long before = await LedgerRowsAsync(userId);
        long otherBefore = await LedgerRowsAsync(otherId);

        var otherType = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "L4" });
        await AssertRefusedAsync(otherType, 409, "session_conflict", userId, before, "another instance type");
        var otherUser = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId = otherId, instanceType = "T4" });
        await AssertRefusedAsync(otherUser, 409, "session_conflict", otherId, otherBefore, "another user");
        var otherWorkload = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "T4", workload = "training" });
        await AssertRefusedAsync(otherWorkload, 409, "session_conflict", userId, before, "another workload");

        var session = await Json(await orchestrator.GetAsync($"/v1/sessions/{sessionId}"));
        Assert.Equal(userId, session.GetProperty("userId").GetString());
        Assert.Equal("T4", session.GetProperty("instanceType").GetString());
        Assert.Equal("stopped", session.GetProperty("state").GetString());
    }

    // ---- payment_declined, payment_failed, payload_too_large -------------------------------------------------

    [Theory]
    [InlineData("tok_chargeDeclined", 402, "payment_declined")]
    [InlineData("tok_processingError", 502, "payment_failed")]
    [Trait("Rule", "R-TOPUP-3")]
    public async Task A_declined_or_failed_card_payment_is_refused_with_its_code_and_adds_nothing(string token, int status, string code)
    {
        var (userId, user) = await api.NewUserAsync("err-pay");
        long before = await LedgerRowsAsync(userId);
        var response = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 25, paymentToken = token }, Key()));
        await AssertRefusedAsync(response, status, code, userId, before, token);
        Assert.Equal(5m, await TotalAsync(userId));
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_lots WHERE wallet_id = $1 AND kind = 'purchased'", userId));
    }

    [Theory]
    [InlineData("grant")]
    [InlineData("top-up")]
    [InlineData("inference charge")]
    [Trait("Rule", "R-INPUT-4")]
    public async Task A_body_over_the_size_limit_is_413_payload_too_large(string call)
    {
        var (userId, user) = await api.NewUserAsync("err-413");
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        long before = await LedgerRowsAsync(userId);
        var padding = new string('x', 5000); // the test host accepts at most 4096 bytes
        var response = call switch
        {
            "grant" => await admin.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/grants", $$"""{"amount": 1, "expiresAt": "{{Future}}", "reason": "{{padding}}"}""", Key())),
            "top-up" => await user.SendAsync(Raw(HttpMethod.Post, $"/v1/wallets/{userId}/topups", $$"""{"amount": 10, "paymentToken": "tok_visa", "note": "{{padding}}"}""", Key())),
            _ => await orchestrator.SendAsync(Raw(HttpMethod.Post, "/v1/inference/charges", $$"""{"userId": "{{userId}}", "model": "{{padding}}", "inputTokens": 1, "outputTokens": 1}""", Key())),
        };
        await AssertRefusedAsync(response, 413, "payload_too_large", userId, before, call);
        Assert.Equal(5m, await TotalAsync(userId));
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    private static string Key() => $"err-{Guid.NewGuid():N}";

    private static HttpRequestMessage Raw(HttpMethod method, string url, string json, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    private static async Task<JsonElement> Json(HttpResponseMessage r) => await r.Content.ReadFromJsonAsync<JsonElement>();

    private async Task<HttpClient> OrchestratorAsync() => api.Client(await api.IssueKeyAsync("orchestrator"));

    private Task<long> LedgerRowsAsync(string walletId) =>
        TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", walletId);

    private async Task<decimal> TotalAsync(string userId) =>
        (await Json(await api.Client(api.AdminKey).GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal();

    /// <summary>The refusal is problem+json with the status and code, the wallet's ledger did not change, and the service still answers.</summary>
    private async Task AssertRefusedAsync(HttpResponseMessage response, int status, string code, string walletId, long ledgerRowsBefore, string? what = null)
    {
        var label = what is null ? code : $"{what} → {code}";
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{label}: expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"{label}: expected application/problem+json, got {response.Content.Headers.ContentType}: {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.True(problem.RootElement.TryGetProperty("code", out var actual) && actual.GetString() == code, $"{label}: expected code {code}: {body}");
        Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Equal(ledgerRowsBefore, await LedgerRowsAsync(walletId));
        var live = await api.Client().GetAsync("/health/live");
        Assert.Equal(200, (int)live.StatusCode);
    }
}
