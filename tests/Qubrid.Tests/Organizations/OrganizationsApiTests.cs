using System.Net;
using System.Net.Http.Json;
using Qubrid.Tests.Infrastructure;
using static Qubrid.Tests.Infrastructure.HttpJson;

namespace Qubrid.Tests.Organizations;

/// <summary>Organizations through HTTP: creation, members and roles, usage billed to an organization (docs/rules.md, organizations).</summary>
[Collection(ApiCollection.Name)]
public class OrganizationsApiTests(ApiHost api)
{
    private static string Key() => Guid.NewGuid().ToString("N");

    private static string NewOrgId() => $"org-{Guid.NewGuid():N}";

    private static async Task<HttpResponseMessage> Put(HttpClient client, string url, object body) => await client.PutAsJsonAsync(url, body);

    [Fact]
    [Trait("Rule", "R-ORG-1")]
    public async Task Creating_an_organization_makes_its_wallet_without_bonus_and_the_user_its_owner()
    {
        var (aliceId, alice) = await api.NewUserAsync("org-owner");
        var (_, bob) = await api.NewUserAsync("org-stranger");
        var orgId = NewOrgId();

        var created = await Put(alice, $"/v1/orgs/{orgId}", new { name = "Acme" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var org = await Json(created);
        Assert.Equal("owner", org.GetProperty("role").GetString());
        Assert.Equal("Acme", org.GetProperty("name").GetString());
        // A repeat by its owner is harmless; another user cannot take it.
        Assert.Equal(HttpStatusCode.OK, (await Put(alice, $"/v1/orgs/{orgId}", new { name = "Acme" })).StatusCode);
        var taken = await Put(bob, $"/v1/orgs/{orgId}", new { name = "Mine" });
        Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        Assert.Equal("organization_exists", (await Json(taken)).GetProperty("code").GetString());

        // Its wallet is a wallet like any other, without the sign-up bonus.
        var wallet = await Json(await alice.GetAsync($"/v1/wallets/{orgId}"));
        Assert.Equal(0m, wallet.GetProperty("total").GetDecimal());
        var mine = await Json(await alice.GetAsync("/v1/me/orgs"));
        var listed = Assert.Single(mine.GetProperty("items").EnumerateArray());
        Assert.Equal(orgId, listed.GetProperty("orgId").GetString());
        Assert.Equal("owner", listed.GetProperty("role").GetString());
        Assert.Empty((await Json(await bob.GetAsync("/v1/me/orgs"))).GetProperty("items").EnumerateArray());
        Assert.Equal(aliceId, (await Json(await alice.GetAsync($"/v1/orgs/{orgId}/members"))).GetProperty("items")[0].GetProperty("userId").GetString());

        // A user's wallet is never taken for an organization's.
        var userWallet = NewOrgId();
        (await api.Client(api.AdminKey).PutAsync($"/v1/wallets/{userWallet}", null)).EnsureSuccessStatusCode();
        var refused = await Put(api.Client(api.AdminKey), $"/v1/orgs/{userWallet}", new { name = "Squat" });
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("organization_id_taken", (await Json(refused)).GetProperty("code").GetString());
        // Not an organization id at all.
        Assert.Equal(HttpStatusCode.BadRequest, (await Put(alice, "/v1/orgs/acme", new { name = "Acme" })).StatusCode);
    }

    [Fact]
    [Trait("Rule", "R-ORG-3")]
    public async Task The_last_owner_cannot_be_removed_or_demoted_until_another_owner_exists()
    {
        var (aliceId, alice) = await api.NewUserAsync("org-last");
        var (bobId, _) = await api.NewUserAsync("org-next");
        var orgId = NewOrgId();
        (await Put(alice, $"/v1/orgs/{orgId}", new { name = "Solo" })).EnsureSuccessStatusCode();

        var demoted = await Put(alice, $"/v1/orgs/{orgId}/members/{aliceId}", new { role = "member" });
        Assert.Equal(HttpStatusCode.Conflict, demoted.StatusCode);
        Assert.Equal("last_owner", (await Json(demoted)).GetProperty("code").GetString());
        var removed = await alice.DeleteAsync($"/v1/orgs/{orgId}/members/{aliceId}");
        Assert.Equal(HttpStatusCode.Conflict, removed.StatusCode);
        Assert.Equal("last_owner", (await Json(removed)).GetProperty("code").GetString());

        Assert.Equal(HttpStatusCode.OK, (await Put(alice, $"/v1/orgs/{orgId}/members/{bobId}", new { role = "owner" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Put(alice, $"/v1/orgs/{orgId}/members/{aliceId}", new { role = "billing" })).StatusCode);
        var members = await Json(await alice.GetAsync($"/v1/orgs/{orgId}/members"));
        Assert.Equal(["billing", "owner"], members.GetProperty("items").EnumerateArray()
            .OrderBy(m => m.GetProperty("userId").GetString() == aliceId ? 0 : 1).Select(m => m.GetProperty("role").GetString()!).ToArray());
        var missing = await api.Client(api.AdminKey).DeleteAsync($"/v1/orgs/{orgId}/members/nobody-{Guid.NewGuid():N}");
        Assert.Equal("member_not_found", (await Json(missing)).GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-ORG-4")]
    [Trait("Rule", "R-ORG-5")]
    public async Task Usage_is_billed_to_an_organization_only_for_its_members_and_names_member_and_project()
    {
        var (ownerId, owner) = await api.NewUserAsync("org-usage-owner");
        var (bobId, bob) = await api.NewUserAsync("org-usage-bob");
        var (carolId, carol) = await api.NewUserAsync("org-usage-carol");
        var (strangerId, _) = await api.NewUserAsync("org-usage-stranger");
        var orgId = NewOrgId();
        (await Put(owner, $"/v1/orgs/{orgId}", new { name = "Team" })).EnsureSuccessStatusCode();
        (await Put(owner, $"/v1/orgs/{orgId}/members/{bobId}", new { role = "member", monthlyBudget = 50m })).EnsureSuccessStatusCode();
        (await Put(owner, $"/v1/orgs/{orgId}/members/{carolId}", new { role = "member" })).EnsureSuccessStatusCode();
        (await Put(owner, $"/v1/orgs/{orgId}/projects/vision", new { monthlyBudget = 20m })).EnsureSuccessStatusCode();
        var admin = api.Client(api.AdminKey);
        (await admin.SendAsync(ApiHost.Post($"/v1/wallets/{orgId}/grants", new { amount = 100m, expiresAt = api.Clock.GetUtcNow().AddDays(30), reason = "team credit" }, Key())))
            .EnsureSuccessStatusCode();
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));

        // 1M input tokens of the 8B model: 0.05 USD each.
        async Task<HttpResponseMessage> Charge(string userId, string? projectId) => await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
            new { userId, walletId = orgId, projectId, model = "llama-3.1-8b-instruct", inputTokens = 1_000_000, outputTokens = 0 }, Key()));
        Assert.Equal(HttpStatusCode.Created, (await Charge(bobId, "vision")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Charge(carolId, null)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(ApiHost.Post("/v1/premium/charges",
            new { userId = bobId, walletId = orgId, projectId = "vision", name = "flux-pro-image" }, Key()))).StatusCode);
        var refused = await Charge(strangerId, null);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal("not_a_member", (await Json(refused)).GetProperty("code").GetString());

        // The ledger names whom each charge was for; the members' own wallets were not touched.
        var ledger = await Json(await owner.GetAsync($"/v1/wallets/{orgId}/ledger?kind=inference_charge,premium_access"));
        var entries = ledger.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(3, entries.Count);
        Assert.Equal(2, entries.Count(e => e.GetProperty("memberId").GetString() == bobId && e.GetProperty("projectId").GetString() == "vision"));
        Assert.Single(entries, e => e.GetProperty("memberId").GetString() == carolId && e.GetProperty("projectId").ValueKind == System.Text.Json.JsonValueKind.Null);
        Assert.Equal(5m, (await Json(await bob.GetAsync($"/v1/wallets/{bobId}"))).GetProperty("total").GetDecimal());
        var csv = await (await owner.GetAsync($"/v1/wallets/{orgId}/ledger.csv")).Content.ReadAsStringAsync();
        Assert.StartsWith("seq,at,kind,amount,balanceAfter,reference,idempotencyKey,lots,memberId,projectId\n", csv);
        Assert.Contains($",{bobId},vision\n", csv);

        // Usage by member: the owner sees everyone's; a member only their own rows; Σ by member = the organization's usage.
        var window = $"to={Uri.EscapeDataString(api.Clock.GetUtcNow().AddHours(1).ToString("O"))}";
        var byMember = await Json(await owner.GetAsync($"/v1/wallets/{orgId}/usage?groupBy=member&{window}"));
        var items = byMember.GetProperty("items").EnumerateArray().ToDictionary(i => i.GetProperty("key").GetString()!, i => i.GetProperty("amount").GetDecimal());
        Assert.Equal([bobId, carolId], items.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(byMember.GetProperty("total").GetDecimal(), items.Values.Sum());
        var own = await Json(await bob.GetAsync($"/v1/wallets/{orgId}/usage?groupBy=member&{window}"));
        Assert.Equal(bobId, Assert.Single(own.GetProperty("items").EnumerateArray()).GetProperty("key").GetString());
        var byProject = await Json(await owner.GetAsync($"/v1/wallets/{orgId}/usage?groupBy=project&{window}"));
        Assert.Contains(byProject.GetProperty("items").EnumerateArray(), i => i.GetProperty("key").GetString() == "vision");

        // Spending this month, per member and per project.
        var members = (await Json(await owner.GetAsync($"/v1/orgs/{orgId}/members"))).GetProperty("items").EnumerateArray()
            .ToDictionary(m => m.GetProperty("userId").GetString()!);
        Assert.Equal(items[bobId], members[bobId].GetProperty("spentThisMonth").GetDecimal());
        Assert.Equal(50m, members[bobId].GetProperty("monthlyBudget").GetDecimal());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, members[carolId].GetProperty("monthlyBudget").ValueKind);
        var project = Assert.Single((await Json(await owner.GetAsync($"/v1/orgs/{orgId}/projects"))).GetProperty("items").EnumerateArray());
        Assert.Equal(items[bobId], project.GetProperty("spentThisMonth").GetDecimal());

        // A removed member's next usage there is refused at once; they no longer see the wallet.
        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/v1/orgs/{orgId}/members/{carolId}")).StatusCode);
        var afterRemoval = await Charge(carolId, null);
        Assert.Equal(HttpStatusCode.Forbidden, afterRemoval.StatusCode);
        Assert.Equal("not_a_member", (await Json(afterRemoval)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await carol.GetAsync($"/v1/wallets/{orgId}")).StatusCode);
    }
}
