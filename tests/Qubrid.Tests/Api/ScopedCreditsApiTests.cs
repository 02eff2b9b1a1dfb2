using System.Net;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;
using static Qubrid.Tests.Infrastructure.HttpJson;

namespace Qubrid.Tests.Api;

/// <summary>Scoped grants through HTTP (docs/rules.md#R-SCOPE-1..3): validation codes, the lots' scope, the balance's scoped amount.</summary>
[Collection(ApiCollection.Name)]
public class ScopedCreditsApiTests(ApiHost api)
{
    private static string Key() => Guid.NewGuid().ToString("N");

    private object Grant(object? scope) => new { amount = 10m, expiresAt = api.Clock.GetUtcNow().AddDays(30), reason = "Scoped voucher", scope };

    [Theory]
    [Trait("Rule", "R-SCOPE-1")]
    [InlineData("""{}""", "invalid_scope")]
    [InlineData("""{"instanceTypes":[]}""", "invalid_scope")]
    [InlineData("""{"instanceTypes":["B300"]}""", "unknown_instance_type")]
    [InlineData("""{"models":["gpt-17"]}""", "unknown_model")]
    [InlineData("""{"workloads":["batch"]}""", "invalid_scope")]
    [InlineData("""{"instanceTypes":["A100"],"models":["deepseek-r1"]}""", "invalid_scope")]
    [InlineData("""{"instanceTypes":[""]}""", "invalid_scope")]
    [InlineData("""{"gpus":["A100"]}""", "invalid_request")]
    public async Task A_bad_scope_is_refused_with_its_code_and_nothing_is_granted(string scopeJson, string code)
    {
        var (userId, user) = await api.NewUserAsync("bad-scope");
        var admin = api.Client(api.AdminKey);
        var response = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants", Grant(JsonDocument.Parse(scopeJson).RootElement), Key()));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(code, (await Json(response)).GetProperty("code").GetString());
        Assert.Equal(BillingClusterBonus, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
    }

    private const decimal BillingClusterBonus = 5m;

    [Fact]
    [Trait("Rule", "R-SCOPE-2")]
    [Trait("Rule", "R-SCOPE-3")]
    public async Task A_scoped_grant_shows_its_scope_and_pays_only_the_usage_it_names()
    {
        var (userId, user) = await api.NewUserAsync("scoped");
        var admin = api.Client(api.AdminKey);
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var granted = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants",
            Grant(new { models = new[] { "premium-model-access", "deepseek-r1", "deepseek-r1" } }), Key()));
        Assert.Equal(HttpStatusCode.Created, granted.StatusCode);
        var lotId = (await Json(granted)).GetProperty("lotId").GetInt64();

        var lots = (await Json(await user.GetAsync($"/v1/wallets/{userId}/lots"))).GetProperty("items").EnumerateArray().ToList();
        var scoped = lots.Single(l => l.GetProperty("id").GetInt64() == lotId).GetProperty("scope");
        Assert.Equal(["deepseek-r1", "premium-model-access"], scoped.GetProperty("models").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(JsonValueKind.Null, scoped.GetProperty("instanceTypes").ValueKind);
        Assert.All(lots.Where(l => l.GetProperty("id").GetInt64() != lotId), l => Assert.Equal(JsonValueKind.Null, l.GetProperty("scope").ValueKind));

        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(15m, wallet.GetProperty("total").GetDecimal());
        Assert.Equal(10m, wallet.GetProperty("scoped").GetDecimal());
        Assert.Equal(5m, wallet.GetProperty("available").GetDecimal());

        // Premium access named in the scope takes the scoped lot first; one not named takes the bonus.
        var premium = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "premium-model-access" }, Key()));
        Assert.Equal(HttpStatusCode.Created, premium.StatusCode);
        var image = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", new { userId, name = "flux-pro-image" }, Key()));
        Assert.Equal(HttpStatusCode.Created, image.StatusCode);
        var entries = (await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger?kind=premium_access"))).GetProperty("items").EnumerateArray().ToList();
        var byRef = entries.ToDictionary(e => e.GetProperty("reference").GetString()!, e => e.GetProperty("lots")[0].GetProperty("lotId").GetInt64());
        Assert.Equal(lotId, byRef["premium-model-access"]);
        Assert.NotEqual(lotId, byRef["flux-pro-image"]);
        wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(9m, wallet.GetProperty("scoped").GetDecimal());
        Assert.Equal(4.95m, wallet.GetProperty("available").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-1")]
    public async Task The_document_declares_the_grant_scope_its_codes_and_the_scope_of_lots_and_balances()
    {
        var response = await api.Client().GetAsync("/openapi/v1.json");
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        var schemas = doc.GetProperty("components").GetProperty("schemas");
        Assert.True(schemas.GetProperty("GrantRequest").GetProperty("properties").TryGetProperty("scope", out _));
        Assert.Equal(["instanceTypes", "models", "workloads"],
            schemas.GetProperty("ScopeDto").GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.True(schemas.GetProperty("LotDto").GetProperty("properties").TryGetProperty("scope", out _));
        Assert.True(schemas.GetProperty("WalletDto").GetProperty("properties").TryGetProperty("scoped", out _));
        var codes = doc.GetProperty("paths").GetProperty("/v1/wallets/{userId}/grants").GetProperty("post").GetProperty("responses").GetProperty("400")
            .GetProperty("content").GetProperty("application/problem+json").GetProperty("schema").GetProperty("allOf")[1]
            .GetProperty("properties").GetProperty("code").GetProperty("enum").EnumerateArray().Select(c => c.GetString()).ToList();
        Assert.Contains("invalid_scope", codes);
        Assert.Contains("unknown_instance_type", codes);
        Assert.Contains("unknown_model", codes);
    }
}
