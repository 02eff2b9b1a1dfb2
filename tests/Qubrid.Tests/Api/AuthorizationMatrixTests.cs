using System.Net.Http.Headers;
using System.Net.Http.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// Every endpoint of the HTTP API against every kind of caller (SPEC "Who may do what"): no key and a bad key
/// are 401 except on the anonymous endpoints, a role that may not call the endpoint is 403, a user reaching
/// another user's wallet or session is 404 (its existence is not revealed), and the right caller succeeds.
/// Each row builds its own wallet, keys, sessions and idempotency keys, so rows are independent.
/// </summary>
[Collection(ApiCollection.Name)]
public class AuthorizationMatrixTests(ApiHost api)
{
    /// <summary>Who calls. <see cref="OwnerUser"/> is the user whose wallet or session the row targets; <see cref="OtherUser"/> is a user key of someone else.</summary>
    public enum Caller { NoKey, BadKey, OwnerUser, OtherUser, Orchestrator, Admin }

    private const string BadKey = "qbk_user_this_key_was_never_issued_0000000000";

    /// <summary>Expected statuses, in the order of <see cref="Caller"/>.</summary>
    private sealed record Endpoint(string Name, Func<Row, Task<HttpRequestMessage>> Build, int[] Expected, bool EventStream = false);

    private static int[] SignedIn(int owner, int other, int orchestrator, int admin) => [401, 401, owner, other, orchestrator, admin];

    private static readonly int[] Anonymous = [200, 200, 200, 200, 200, 200];

    private static readonly IReadOnlyList<Endpoint> Endpoints =
    [
        new("POST /v1/api-keys", r => Task.FromResult(Json(HttpMethod.Post, "/v1/api-keys", new { role = "user", userId = r.OwnerId })),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("GET /v1/api-keys", _ => Get("/v1/api-keys"), SignedIn(owner: 200, other: 200, orchestrator: 403, admin: 200)),
        new("POST /v1/api-keys/{id}/revoke", async r => new HttpRequestMessage(HttpMethod.Post, $"/v1/api-keys/{await r.SpareOwnerKeyIdAsync()}/revoke"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("POST /v1/api-keys/{id}/rotate", async r => Json(HttpMethod.Post, $"/v1/api-keys/{await r.SpareOwnerKeyIdAsync()}/rotate", new { graceSeconds = 60 }),
            SignedIn(owner: 201, other: 404, orchestrator: 403, admin: 201)),
        new("PUT /v1/wallets/{id}", r => Task.FromResult(new HttpRequestMessage(HttpMethod.Put, $"/v1/wallets/{r.OwnerId}")),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}", r => Get($"/v1/wallets/{r.OwnerId}"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/lots", r => Get($"/v1/wallets/{r.OwnerId}/lots"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/ledger", r => Get($"/v1/wallets/{r.OwnerId}/ledger"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/ledger.csv", r => Get($"/v1/wallets/{r.OwnerId}/ledger.csv"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/usage", r => Get($"/v1/wallets/{r.OwnerId}/usage?groupBy=model"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/topup-options", _ => Get("/v1/topup-options"), SignedIn(owner: 200, other: 200, orchestrator: 200, admin: 200)),
        new("POST /v1/wallets/{id}/topups", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/topups", new { amount = 10, paymentToken = "tok_visa" }, Key())),
            SignedIn(owner: 201, other: 404, orchestrator: 403, admin: 403)),
        new("POST /v1/wallets/{id}/grants", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/grants",
                new { amount = 1, expiresAt = r.Now.AddDays(7), reason = "authz matrix" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("POST /v1/wallets/{id}/adjustments", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/adjustments", new { amount = 1, reason = "authz matrix" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("POST /v1/wallets/{id}/refunds", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/refunds", new { amount = 1, reason = "authz matrix" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("POST /v1/wallets/{id}/lots/{lotId}/void", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/lots/1/void", new { reason = "authz matrix" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("POST /v1/payments/{id}/refunds", async r => Json(HttpMethod.Post, $"/v1/payments/{await r.TopupAsync()}/refunds", new { amount = 1, reason = "authz matrix" }, Key()),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("GET /v1/wallets/{id}/refunds (card)", r => Get($"/v1/wallets/{r.OwnerId}/refunds"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/reports/credits", _ => Get("/v1/reports/credits?month=2026-01"), SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("POST /v1/sessions", r => Task.FromResult(Json(HttpMethod.Post, "/v1/sessions", new { sessionId = r.NewSessionId(), userId = r.OwnerId, instanceType = "T4" })),
            SignedIn(owner: 403, other: 403, orchestrator: 201, admin: 403)),
        new("GET /v1/sessions/{id}", async r => new HttpRequestMessage(HttpMethod.Get, $"/v1/sessions/{await r.StartSessionAsync()}"),
            SignedIn(owner: 200, other: 404, orchestrator: 200, admin: 200)),
        new("GET /v1/sessions?userId=", async r => { await r.StartSessionAsync(); return new HttpRequestMessage(HttpMethod.Get, $"/v1/sessions?userId={r.OwnerId}"); },
            SignedIn(owner: 200, other: 404, orchestrator: 200, admin: 200)),
        new("POST /v1/sessions/{id}/stop", async r => new HttpRequestMessage(HttpMethod.Post, $"/v1/sessions/{await r.StartSessionAsync()}/stop"),
            SignedIn(owner: 403, other: 403, orchestrator: 200, admin: 403)),
        new("GET /v1/sessions/events", _ => Get("/v1/sessions/events"), SignedIn(owner: 403, other: 403, orchestrator: 200, admin: 403), EventStream: true),
        new("POST /v1/inference/charges", r => Task.FromResult(Json(HttpMethod.Post, "/v1/inference/charges",
                new { userId = r.OwnerId, model = "llama-3.1-8b-instruct", inputTokens = 1000, outputTokens = 1000 }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 201, admin: 403)),
        new("POST /v1/premium/charges", r => Task.FromResult(Json(HttpMethod.Post, "/v1/premium/charges", new { userId = r.OwnerId, name = "flux-pro-image" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 201, admin: 403)),
        new("GET /v1/rates", _ => Get("/v1/rates"), Anonymous),
        new("PUT /v1/rates/{type}", _ => Task.FromResult(Json(HttpMethod.Put, $"/v1/rates/AUTHZ{Guid.NewGuid().ToString("N")[..12]}", new { usdPerHour = 1.5m })),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("GET /v1/models", _ => Get("/v1/models"), SignedIn(owner: 200, other: 200, orchestrator: 200, admin: 200)),
        new("GET /v1/me", _ => Get("/v1/me"), SignedIn(owner: 200, other: 200, orchestrator: 200, admin: 200)),
        new("GET /v1/wallets/{id}/receipts", r => Get($"/v1/wallets/{r.OwnerId}/receipts"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/receipts/{number}", async r => new HttpRequestMessage(HttpMethod.Get, $"/v1/wallets/{r.OwnerId}/receipts/{await r.ReceiptAsync()}"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/statements/{month}", r => Get($"/v1/wallets/{r.OwnerId}/statements/{r.Now:yyyy-MM}"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/statements/{month}.csv", r => Get($"/v1/wallets/{r.OwnerId}/statements/{r.Now:yyyy-MM}.csv"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("POST /v1/webhooks", r => Task.FromResult(Json(HttpMethod.Post, "/v1/webhooks", new { url = Row.DeadUrl, events = new[] { "low_balance" } })),
            SignedIn(owner: 201, other: 201, orchestrator: 403, admin: 201)),
        new("POST /v1/webhooks for the owner's wallet", r => Task.FromResult(Json(HttpMethod.Post, "/v1/webhooks", new { url = Row.DeadUrl, events = new[] { "low_balance" }, userId = r.OwnerId })),
            SignedIn(owner: 201, other: 404, orchestrator: 403, admin: 201)),
        new("GET /v1/webhooks", _ => Get("/v1/webhooks"), SignedIn(owner: 200, other: 200, orchestrator: 403, admin: 200)),
        new("GET /v1/webhooks/{id}", async r => new HttpRequestMessage(HttpMethod.Get, $"/v1/webhooks/{await r.WebhookAsync()}"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("DELETE /v1/webhooks/{id}", async r => new HttpRequestMessage(HttpMethod.Delete, $"/v1/webhooks/{await r.WebhookAsync()}"),
            SignedIn(owner: 204, other: 404, orchestrator: 403, admin: 204)),
        new("POST /v1/webhooks/{id}/enable", async r => new HttpRequestMessage(HttpMethod.Post, $"/v1/webhooks/{await r.WebhookAsync()}/enable"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/webhooks/{id}/deliveries", async r => new HttpRequestMessage(HttpMethod.Get, $"/v1/webhooks/{await r.WebhookAsync()}/deliveries"),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("POST /v1/webhooks/{id}/deliveries/{deliveryId}/replay", async r =>
            {
                var (id, delivery) = await r.WebhookDeliveryAsync();
                return new HttpRequestMessage(HttpMethod.Post, $"/v1/webhooks/{id}/deliveries/{delivery}/replay");
            },
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("POST /v1/wallets/{id}/holds", r => Task.FromResult(Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/holds",
                new { amount = 0.5m, expiresAt = r.Now.AddMinutes(30), reference = "authz matrix" }, Key())),
            SignedIn(owner: 403, other: 403, orchestrator: 201, admin: 403)),
        new("GET /v1/wallets/{id}/holds", r => Get($"/v1/wallets/{r.OwnerId}/holds"), SignedIn(owner: 200, other: 404, orchestrator: 200, admin: 200)),
        new("POST /v1/holds/{id}/capture", async r => Json(HttpMethod.Post, $"/v1/holds/{await r.HoldAsync()}/capture", new { amount = 0.25m }, Key()),
            SignedIn(owner: 403, other: 403, orchestrator: 200, admin: 403)),
        new("POST /v1/holds/{id}/void", async r => new HttpRequestMessage(HttpMethod.Post, $"/v1/holds/{await r.HoldAsync()}/void") { Headers = { { "Idempotency-Key", Key() } } },
            SignedIn(owner: 403, other: 403, orchestrator: 200, admin: 403)),
        new("GET /v1/wallets/{id}/limits", r => Get($"/v1/wallets/{r.OwnerId}/limits"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("PUT /v1/wallets/{id}/limits", r => Task.FromResult(Json(HttpMethod.Put, $"/v1/wallets/{r.OwnerId}/limits", new { perHour = 50m })),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{id}/auto-topup", r => Get($"/v1/wallets/{r.OwnerId}/auto-topup"), SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 403)),
        new("PUT /v1/wallets/{id}/auto-topup", r => Task.FromResult(Json(HttpMethod.Put, $"/v1/wallets/{r.OwnerId}/auto-topup",
                new { enabled = false, threshold = 1m, target = 5m, paymentToken = "tok_visa", monthlyCap = 20m })),
            SignedIn(owner: 200, other: 404, orchestrator: 403, admin: 403)),
        new("POST /v1/promotions", r => Task.FromResult(Json(HttpMethod.Post, "/v1/promotions", new { code = Row.NewCode(), amount = 1, lotValidDays = 7 })),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 201)),
        new("GET /v1/promotions", _ => Get("/v1/promotions"), SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("GET /v1/promotions/{id}", async r => new HttpRequestMessage(HttpMethod.Get, $"/v1/promotions/{(await r.PromotionAsync()).Id}"),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("POST /v1/promotions/{id}/disable", async r => new HttpRequestMessage(HttpMethod.Post, $"/v1/promotions/{(await r.PromotionAsync()).Id}/disable"),
            SignedIn(owner: 403, other: 403, orchestrator: 403, admin: 200)),
        new("POST /v1/wallets/{id}/redemptions", async r => Json(HttpMethod.Post, $"/v1/wallets/{r.OwnerId}/redemptions", new { code = (await r.PromotionAsync()).Code }, Key()),
            SignedIn(owner: 201, other: 404, orchestrator: 403, admin: 403)),
        new("GET /health/live", _ => Get("/health/live"), Anonymous),
        new("GET /health/ready", _ => Get("/health/ready"), Anonymous),
        new("GET /openapi/v1.json", _ => Get("/openapi/v1.json"), Anonymous),
    ];

    public static TheoryData<string, Caller> Rows
    {
        get
        {
            var rows = new TheoryData<string, Caller>();
            foreach (var endpoint in Endpoints)
            foreach (var caller in Enum.GetValues<Caller>())
                rows.Add(endpoint.Name, caller);
            return rows;
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    [Trait("Rule", "R-ROLE-1")]
    [Trait("Rule", "R-ROLE-2")]
    [Trait("Rule", "R-ROLE-3")]
    [Trait("Rule", "R-ROLE-4")]
    public async Task Every_endpoint_answers_each_caller_with_the_expected_status(string endpoint, Caller caller)
    {
        var e = Endpoints.Single(x => x.Name == endpoint);
        int expected = e.Expected[(int)caller];
        string row = $"{endpoint} as {caller}";

        await using var context = await Row.CreateAsync(api);
        using var request = await e.Build(context);
        if (context.KeyOf(caller) is { } key) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var client = api.Client();
        using var timeout = new CancellationTokenSource();
        // Headers only: the event stream never ends by itself. The wait is bounded separately from the request's own
        // token, because cancelling the request would end the stream and let a late response look like a prompt one.
        var sending = client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        try
        {
            await sending.WaitAsync(TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException)
        {
            await timeout.CancelAsync();
            try { (await sending).Dispose(); } catch (OperationCanceledException) { }
            Assert.Fail($"{row}: expected {expected}, but no response headers arrived within 20 s.");
        }
        using (var response = await sending)
        {
            int actual = (int)response.StatusCode;
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            string body = e.EventStream && actual == 200 ? "(event stream)" : await response.Content.ReadAsStringAsync(timeout.Token);
            Assert.True(actual == expected, $"{row}: expected {expected}, got {actual}: {body}");
            if (expected >= 400)
                Assert.True(mediaType == "application/problem+json", $"{row}: an error must be application/problem+json, was {mediaType}: {body}");
            if (e.EventStream && expected == 200)
                Assert.True(mediaType == "text/event-stream", $"{row}: expected text/event-stream, was {mediaType}");
            await timeout.CancelAsync();
        }
    }

    private static Task<HttpRequestMessage> Get(string url) => Task.FromResult(new HttpRequestMessage(HttpMethod.Get, url));

    private static string Key() => $"authz-{Guid.NewGuid():N}";

    private static HttpRequestMessage Json(HttpMethod method, string url, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    /// <summary>One row's world: the owner's wallet (5 USD bonus) and key, another user's key, an orchestrator key; sessions it started are stopped at the end.</summary>
    private sealed class Row(ApiHost api) : IAsyncDisposable
    {
        private readonly List<string> _sessions = [];
        public string OwnerId { get; private set; } = "";
        /// <summary>Now on the host's clock (billing time).</summary>
        public DateTimeOffset Now => api.Clock.GetUtcNow();
        private string _ownerKey = "";
        private string _otherKey = "";
        private string _orchestratorKey = "";

        public static async Task<Row> CreateAsync(ApiHost api)
        {
            var row = new Row(api);
            row.OwnerId = $"authz-{Guid.NewGuid():N}";
            using var admin = api.Client(api.AdminKey);
            var created = await admin.PutAsync($"/v1/wallets/{row.OwnerId}", null);
            Assert.True(created.IsSuccessStatusCode, $"setup: creating the wallet answered {(int)created.StatusCode}");
            var otherId = $"authz-other-{Guid.NewGuid():N}";
            (await admin.PutAsync($"/v1/wallets/{otherId}", null)).EnsureSuccessStatusCode();
            row._ownerKey = await api.IssueKeyAsync("user", row.OwnerId);
            row._otherKey = await api.IssueKeyAsync("user", otherId);
            row._orchestratorKey = await api.IssueKeyAsync("orchestrator");
            return row;
        }

        public string? KeyOf(Caller caller) => caller switch
        {
            Caller.NoKey => null,
            Caller.BadKey => BadKey,
            Caller.OwnerUser => _ownerKey,
            Caller.OtherUser => _otherKey,
            Caller.Orchestrator => _orchestratorKey,
            _ => api.AdminKey,
        };

        /// <summary>Nothing listens there: deliveries fail at once (the endpoint's retries stay quiet in the background).</summary>
        public const string DeadUrl = "http://127.0.0.1:1/hook";

        /// <summary>A succeeded top-up of the owner's wallet, paid by the owner; its payment id.</summary>
        public async Task<string> TopupAsync()
        {
            using var owner = api.Client(_ownerKey);
            var paid = await owner.SendAsync(ApiHost.Post($"/v1/wallets/{OwnerId}/topups", new { amount = 10, paymentToken = "tok_visa" }, Key()));
            Assert.True(paid.IsSuccessStatusCode, $"setup: the top-up answered {(int)paid.StatusCode}");
            return (await paid.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("paymentId").GetString()!;
        }

        /// <summary>An active hold on the owner's wallet, placed by an orchestrator.</summary>
        public async Task<string> HoldAsync()
        {
            using var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
            var created = await orchestrator.SendAsync(ApiHost.Post($"/v1/wallets/{OwnerId}/holds",
                new { amount = 0.5m, expiresAt = api.Clock.GetUtcNow().AddMinutes(30), reference = "authz matrix" }, Key()));
            Assert.True((int)created.StatusCode == 201, $"setup: the hold answered {(int)created.StatusCode}");
            return (await HttpJson.Json(created)).GetProperty("holdId").GetString()!;
        }

        /// <summary>A receipt of the owner's: a 10 USD top-up with the test card.</summary>
        public async Task<string> ReceiptAsync()
        {
            using var owner = api.Client(_ownerKey);
            var topup = await owner.SendAsync(ApiHost.Post($"/v1/wallets/{OwnerId}/topups", new { amount = 10, paymentToken = "tok_visa" }, Key()));
            Assert.True((int)topup.StatusCode == 201, $"setup: the top-up answered {(int)topup.StatusCode}");
            var list = await HttpJson.Json(await owner.GetAsync($"/v1/wallets/{OwnerId}/receipts"));
            return list.GetProperty("items")[0].GetProperty("number").GetString()!;
        }

        /// <summary>An endpoint of the owner's (made by the admin for the owner's wallet).</summary>
        public async Task<string> WebhookAsync()
        {
            using var admin = api.Client(api.AdminKey);
            var created = await admin.PostAsJsonAsync("/v1/webhooks", new { url = DeadUrl, events = new[] { "topup_failed" }, userId = OwnerId });
            Assert.True((int)created.StatusCode == 201, $"setup: creating the webhook answered {(int)created.StatusCode}: {await created.Content.ReadAsStringAsync()}");
            return (await HttpJson.Json(created)).GetProperty("id").GetString()!;
        }

        /// <summary>An endpoint of the owner's with one delivery on record (of an event from before it existed, so its own loop leaves it alone).</summary>
        public async Task<(string Id, long Delivery)> WebhookDeliveryAsync()
        {
            using var owner = api.Client(_ownerKey);
            (await owner.SendAsync(ApiHost.Post($"/v1/wallets/{OwnerId}/topups", new { amount = 10, paymentToken = "tok_chargeDeclined" }, Key()))).Dispose();
            var id = await WebhookAsync();
            var delivery = await TestDatabase.ScalarAsync(api.Db,
                """
                INSERT INTO qubrid_webhook_deliveries (endpoint_id, event_id, event_type, status, attempts, last_attempt_at)
                SELECT $1, id, kind, 'failed', 1, now() FROM qubrid_events WHERE wallet_id = $2 ORDER BY id DESC LIMIT 1
                RETURNING delivery_id
                """, id, OwnerId);
            return (id, delivery);
        }

        /// <summary>A shared promotion code no other row uses.</summary>
        public static string NewCode() => "AUTHZ" + Guid.NewGuid().ToString("N")[..16].ToUpperInvariant();

        /// <summary>A promotion with a shared code (1 USD, 7 days), made by the admin.</summary>
        public async Task<(string Id, string Code)> PromotionAsync()
        {
            using var admin = api.Client(api.AdminKey);
            var code = NewCode();
            var created = await admin.PostAsJsonAsync("/v1/promotions", new { code, amount = 1, lotValidDays = 7 });
            Assert.True((int)created.StatusCode == 201, $"setup: creating the promotion answered {(int)created.StatusCode}: {await created.Content.ReadAsStringAsync()}");
            return ((await HttpJson.Json(created)).GetProperty("promotionId").GetString()!, code);
        }

        /// <summary>Another key of the owner, for revoking or rotating (the owner's own calling key stays valid).</summary>
        public async Task<string> SpareOwnerKeyIdAsync() => (await api.IssueKeyWithIdAsync("user", OwnerId)).Id;

        public string NewSessionId()
        {
            var id = $"authz-s-{Guid.NewGuid():N}";
            _sessions.Add(id);
            return id;
        }

        /// <summary>A running T4 session of the owner, started by the orchestrator.</summary>
        public async Task<string> StartSessionAsync()
        {
            var id = NewSessionId();
            using var orchestrator = api.Client(_orchestratorKey);
            var started = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = id, userId = OwnerId, instanceType = "T4" });
            Assert.True((int)started.StatusCode == 201, $"setup: starting a session answered {(int)started.StatusCode}: {await started.Content.ReadAsStringAsync()}");
            return id;
        }

        public async ValueTask DisposeAsync()
        {
            using var orchestrator = api.Client(_orchestratorKey);
            foreach (var id in _sessions) (await orchestrator.PostAsync($"/v1/sessions/{id}/stop", null)).Dispose();
        }
    }
}
