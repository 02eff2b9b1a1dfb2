using System.Net;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>SPEC "Idempotency": a 402 answered under a key is a result too; the key answers it again, even after a top-up.</summary>
[Collection(ApiCollection.Name)]
public class RefusalIdempotencyTests(ApiHost api)
{
    [Fact]
    [Trait("Rule", "R-IDEM-4")]
    public async Task A_refusal_is_answered_again_for_its_key_and_a_new_key_is_decided_afresh()
    {
        var (userId, _) = await api.NewUserAsync("refusal");
        var admin = api.Client(api.AdminKey);
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        Assert.Equal(HttpStatusCode.Created, (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments",
            new { amount = -4.5m, reason = "leave 0.5 USD" }, $"adj-{Guid.NewGuid():N}"))).StatusCode);

        var key = $"premium-{Guid.NewGuid():N}";
        var charge = new { userId, name = "premium-model-access" }; // 1.00 USD
        var refused = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", charge, key));
        Assert.Equal(HttpStatusCode.PaymentRequired, refused.StatusCode);
        var refusedBody = await refused.Content.ReadAsStringAsync();
        Assert.Contains("insufficient_credits", refusedBody);

        // The wallet can pay now; the key still answers its refusal (all but the request's own traceId).
        Assert.Equal(HttpStatusCode.Created, (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments",
            new { amount = 10m, reason = "top up by hand" }, $"adj-{Guid.NewGuid():N}"))).StatusCode);
        var again = await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", charge, key));
        Assert.Equal(HttpStatusCode.PaymentRequired, again.StatusCode);
        Assert.Equal(WithoutTraceId(refusedBody), WithoutTraceId(await again.Content.ReadAsStringAsync()));

        // Another request under the refused key is a conflict; a new key is charged.
        Assert.Equal(HttpStatusCode.Conflict, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges",
            new { userId, name = "flux-pro-image" }, key))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges", charge, $"premium-{Guid.NewGuid():N}"))).StatusCode);
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db,
            "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'premium_access'", userId));
    }

    private static string WithoutTraceId(string json)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node.Remove("traceId");
        return node.ToJsonString();
    }
}
