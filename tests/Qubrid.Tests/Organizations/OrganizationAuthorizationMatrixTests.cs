using System.Net.Http.Headers;
using System.Net.Http.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Organizations;

/// <summary>
/// Every organization call and every route of an organization's wallet against every kind of caller (SPEC "Who may do
/// what", in an organization): the owner does everything, billing money and reading, a member the balance and their own
/// usage; a user who is not a member is told nothing exists (404); the orchestrator bills usage for members only; the
/// admin manages every organization. Each row builds its own organization, so rows are independent.
/// </summary>
[Collection(ApiCollection.Name)]
public class OrganizationAuthorizationMatrixTests(ApiHost api)
{
    public enum Caller { NoKey, Owner, Billing, Member, NonMember, Orchestrator, Admin }

    private sealed record Endpoint(string Name, Func<Row, HttpRequestMessage>? Build, int[] Expected, Func<Row, Task<HttpRequestMessage>>? BuildAsync = null);

    /// <summary>Expected statuses in the order of <see cref="Caller"/> (no key is always 401).</summary>
    private static int[] Expect(int owner, int billing, int member, int nonMember, int orchestrator, int admin) =>
        [401, owner, billing, member, nonMember, orchestrator, admin];

    /// <summary>Reads and limits: owner and billing; a member 403; the admin as for every wallet.</summary>
    private static readonly int[] Reading = Expect(owner: 200, billing: 200, member: 403, nonMember: 404, orchestrator: 403, admin: 200);

    private static readonly IReadOnlyList<Endpoint> Endpoints =
    [
        new("PUT /v1/orgs/{id} (a repeat)", r => Json(HttpMethod.Put, $"/v1/orgs/{r.OrgId}", new { name = "Matrix" }),
            Expect(owner: 200, billing: 200, member: 200, nonMember: 409, orchestrator: 403, admin: 200)),
        new("PUT /v1/orgs/{id} (a new one)", r => Json(HttpMethod.Put, $"/v1/orgs/org-{Guid.NewGuid():N}", new { name = "New" }),
            Expect(owner: 201, billing: 201, member: 201, nonMember: 201, orchestrator: 403, admin: 201)),
        new("GET /v1/orgs/{id}", r => Get($"/v1/orgs/{r.OrgId}"), Expect(owner: 200, billing: 200, member: 200, nonMember: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/me/orgs", _ => Get("/v1/me/orgs"), Expect(owner: 200, billing: 200, member: 200, nonMember: 200, orchestrator: 403, admin: 403)),
        new("GET /v1/orgs/{id}/members", r => Get($"/v1/orgs/{r.OrgId}/members"),
            Expect(owner: 200, billing: 200, member: 403, nonMember: 404, orchestrator: 403, admin: 200)),
        new("PUT /v1/orgs/{id}/members/{userId}", r => Json(HttpMethod.Put, $"/v1/orgs/{r.OrgId}/members/new-{Guid.NewGuid():N}", new { role = "member", monthlyBudget = 10m }),
            Expect(owner: 200, billing: 403, member: 403, nonMember: 404, orchestrator: 403, admin: 200)),
        new("DELETE /v1/orgs/{id}/members/{userId}", r => new HttpRequestMessage(HttpMethod.Delete, $"/v1/orgs/{r.OrgId}/members/{r.SpareMemberId}"),
            Expect(owner: 204, billing: 403, member: 403, nonMember: 404, orchestrator: 403, admin: 204)),
        new("GET /v1/orgs/{id}/projects", r => Get($"/v1/orgs/{r.OrgId}/projects"),
            Expect(owner: 200, billing: 200, member: 403, nonMember: 404, orchestrator: 403, admin: 200)),
        new("PUT /v1/orgs/{id}/projects/{projectId}", r => Json(HttpMethod.Put, $"/v1/orgs/{r.OrgId}/projects/p-{Guid.NewGuid():N}", new { monthlyBudget = 5m }),
            Expect(owner: 200, billing: 200, member: 403, nonMember: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{org}", r => Get($"/v1/wallets/{r.OrgId}"), Expect(owner: 200, billing: 200, member: 200, nonMember: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{org}/usage", r => Get($"/v1/wallets/{r.OrgId}/usage?groupBy=member"),
            Expect(owner: 200, billing: 200, member: 200, nonMember: 404, orchestrator: 403, admin: 200)),
        new("GET /v1/wallets/{org}/lots", r => Get($"/v1/wallets/{r.OrgId}/lots"), Reading),
        new("GET /v1/wallets/{org}/ledger", r => Get($"/v1/wallets/{r.OrgId}/ledger"), Reading),
        new("GET /v1/wallets/{org}/ledger.csv", r => Get($"/v1/wallets/{r.OrgId}/ledger.csv"), Reading),
        new("GET /v1/wallets/{org}/receipts", r => Get($"/v1/wallets/{r.OrgId}/receipts"), Reading),
        new("GET /v1/wallets/{org}/statements/{month}", r => Get($"/v1/wallets/{r.OrgId}/statements/{r.Now:yyyy-MM}"), Reading),
        new("GET /v1/wallets/{org}/limits", r => Get($"/v1/wallets/{r.OrgId}/limits"), Reading),
        new("PUT /v1/wallets/{org}/limits", r => Json(HttpMethod.Put, $"/v1/wallets/{r.OrgId}/limits", new { perHour = 50m }), Reading),
        new("GET /v1/wallets/{org}/holds", r => Get($"/v1/wallets/{r.OrgId}/holds"),
            Expect(owner: 200, billing: 200, member: 403, nonMember: 404, orchestrator: 200, admin: 200)),
        new("POST /v1/wallets/{org}/topups", r => Json(HttpMethod.Post, $"/v1/wallets/{r.OrgId}/topups", new { amount = 10, paymentToken = "tok_visa" }, Key()),
            UserMoney(201)),
        new("GET /v1/wallets/{org}/auto-topup", r => Get($"/v1/wallets/{r.OrgId}/auto-topup"), UserMoney(200)),
        new("PUT /v1/wallets/{org}/auto-topup", r => Json(HttpMethod.Put, $"/v1/wallets/{r.OrgId}/auto-topup",
                new { enabled = false, threshold = 1m, target = 5m, paymentToken = "tok_visa", monthlyCap = 20m }), UserMoney(200)),
        new("POST /v1/inference/charges with walletId", r => Json(HttpMethod.Post, "/v1/inference/charges",
                new { userId = r.MemberId, walletId = r.OrgId, projectId = "matrix", model = "llama-3.1-8b-instruct", inputTokens = 1000, outputTokens = 1000 }, Key()),
            Expect(owner: 403, billing: 403, member: 403, nonMember: 403, orchestrator: 201, admin: 403)),
        new("POST /v1/premium/charges with walletId", r => Json(HttpMethod.Post, "/v1/premium/charges",
                new { userId = r.MemberId, walletId = r.OrgId, name = "flux-pro-image" }, Key()),
            Expect(owner: 403, billing: 403, member: 403, nonMember: 403, orchestrator: 201, admin: 403)),
        new("POST /v1/webhooks for the organization's wallet", r => Json(HttpMethod.Post, "/v1/webhooks",
                new { url = Row.DeadUrl, events = new[] { "topup_failed" }, userId = r.OrgId }),
            Expect(owner: 201, billing: 404, member: 404, nonMember: 404, orchestrator: 403, admin: 201)),
        new("GET /v1/webhooks/{id} of the organization's wallet", null, Expect(owner: 200, billing: 404, member: 404, nonMember: 404, orchestrator: 403, admin: 200),
            async r => Get($"/v1/webhooks/{await r.WebhookAsync()}")),
        new("DELETE /v1/webhooks/{id} of the organization's wallet", null, Expect(owner: 204, billing: 404, member: 404, nonMember: 404, orchestrator: 403, admin: 204),
            async r => new HttpRequestMessage(HttpMethod.Delete, $"/v1/webhooks/{await r.WebhookAsync()}")),
    ];

    /// <summary>The user-only money routes (top-ups, auto top-up): owner and billing; the admin's key is not a user's.</summary>
    private static int[] UserMoney(int ok) => Expect(owner: ok, billing: ok, member: 403, nonMember: 404, orchestrator: 403, admin: 403);

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
    [Trait("Rule", "R-ORG-2")]
    [Trait("Rule", "R-ORG-6")]
    public async Task Every_organization_call_answers_each_role_with_the_expected_status(string endpoint, Caller caller)
    {
        var e = Endpoints.Single(x => x.Name == endpoint);
        int expected = e.Expected[(int)caller];
        var row = await Row.CreateAsync(api);
        if (caller == Caller.Owner && endpoint.StartsWith("GET /v1/webhooks/", StringComparison.Ordinal))
        {
            // The owner lists the organization wallet's endpoints with their own.
            var id = await row.WebhookAsync();
            var listed = await api.Client(row.KeyOf(Caller.Owner)).GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/webhooks");
            Assert.Contains(listed.GetProperty("items").EnumerateArray(), w => w.GetProperty("id").GetString() == id);
        }
        using var request = e.BuildAsync is { } build ? await build(row) : e.Build!(row);
        if (row.KeyOf(caller) is { } key) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await api.Client().SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expected, $"{endpoint} as {caller}: expected {expected}, got {(int)response.StatusCode}: {body}");
        if (expected >= 400) Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private static HttpRequestMessage Get(string url) => new(HttpMethod.Get, url);

    private static string Key() => $"org-authz-{Guid.NewGuid():N}";

    private static HttpRequestMessage Json(HttpMethod method, string url, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(method, url) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    /// <summary>One row's organization: an owner, a billing member, a member, a spare member, 20 USD granted; and a user who is not a member.</summary>
    private sealed class Row
    {
        /// <summary>Nothing listens there: deliveries fail at once.</summary>
        public const string DeadUrl = "http://127.0.0.1:1/hook";

        private ApiHost _api = null!;
        private string? _webhook;

        /// <summary>An endpoint of the organization's wallet, made by the admin (created once per row).</summary>
        public async Task<string> WebhookAsync()
        {
            if (_webhook is not null) return _webhook;
            var created = await _api.Client(_api.AdminKey).PostAsJsonAsync("/v1/webhooks", new { url = DeadUrl, events = new[] { "topup_failed" }, userId = OrgId });
            Assert.True((int)created.StatusCode == 201, $"setup: creating the webhook answered {(int)created.StatusCode}");
            return _webhook = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString()!;
        }

        public string OrgId { get; } = $"org-{Guid.NewGuid():N}";
        public string MemberId { get; private set; } = "";
        public string SpareMemberId { get; } = $"spare-{Guid.NewGuid():N}";
        public DateTimeOffset Now { get; private set; }
        private readonly Dictionary<Caller, string> _keys = [];

        public static async Task<Row> CreateAsync(ApiHost api)
        {
            var row = new Row { Now = api.Clock.GetUtcNow(), _api = api };
            var admin = api.Client(api.AdminKey);
            async Task<string> UserKey(Caller caller)
            {
                var (userId, _) = await api.NewUserAsync($"authz-{caller.ToString().ToLowerInvariant()}");
                row._keys[caller] = await api.IssueKeyAsync("user", userId);
                return userId;
            }
            var ownerId = await UserKey(Caller.Owner);
            var billingId = await UserKey(Caller.Billing);
            row.MemberId = await UserKey(Caller.Member);
            await UserKey(Caller.NonMember);
            row._keys[Caller.Orchestrator] = await api.IssueKeyAsync("orchestrator");
            row._keys[Caller.Admin] = api.AdminKey;
            var owner = api.Client(row._keys[Caller.Owner]);
            (await owner.PutAsJsonAsync($"/v1/orgs/{row.OrgId}", new { name = "Matrix" })).EnsureSuccessStatusCode();
            (await owner.PutAsJsonAsync($"/v1/orgs/{row.OrgId}/members/{billingId}", new { role = "billing" })).EnsureSuccessStatusCode();
            (await owner.PutAsJsonAsync($"/v1/orgs/{row.OrgId}/members/{row.MemberId}", new { role = "member" })).EnsureSuccessStatusCode();
            (await owner.PutAsJsonAsync($"/v1/orgs/{row.OrgId}/members/{row.SpareMemberId}", new { role = "member" })).EnsureSuccessStatusCode();
            (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{row.OrgId}/grants",
                new { amount = 20m, expiresAt = row.Now.AddDays(7), reason = "authz matrix" }, Key()))).EnsureSuccessStatusCode();
            _ = ownerId;
            return row;
        }

        public string? KeyOf(Caller caller) => caller == Caller.NoKey ? null : _keys[caller];
    }
}
