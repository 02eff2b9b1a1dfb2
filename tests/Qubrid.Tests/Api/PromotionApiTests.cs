using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Qubrid.Tests.Infrastructure;
using static Qubrid.Tests.Infrastructure.HttpJson;

namespace Qubrid.Tests.Api;

/// <summary>Promotions by API: creation and its refusals, redemption and every answer it can give, replays, the throttle.</summary>
[Collection(ApiCollection.Name)]
public class PromotionApiTests(ApiHost api)
{
    private HttpClient Admin => api.Client(api.AdminKey);

    private static string NewCode() => "P" + Guid.NewGuid().ToString("N")[..15].ToUpperInvariant();

    private async Task<JsonElement> CreateAsync(object body)
    {
        var response = await Admin.PostAsJsonAsync("/v1/promotions", body);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"creating the promotion answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await Json(response);
    }

    private static Task<HttpResponseMessage> RedeemAsync(HttpClient user, string userId, string code, string key) =>
        user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/redemptions", new { code }, key));

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status} {code}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-PROMO-5")]
    public async Task A_redeemed_code_grants_a_promotional_grant_lot_named_for_the_promotion_and_counts_it()
    {
        var code = NewCode();
        var created = await CreateAsync(new { code = code.ToLowerInvariant(), amount = 7.654321m, lotValidDays = 10 });
        var id = created.GetProperty("promotionId").GetString()!;
        Assert.Equal(code, created.GetProperty("code").GetString()); // stored upper-case: codes are case-insensitive
        var (userId, user) = await api.NewUserAsync("redeem");

        var response = await RedeemAsync(user, userId, $" {code.ToLowerInvariant()} ", "r1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await Json(response);
        Assert.Equal(id, body.GetProperty("promotionId").GetString());
        Assert.Equal(7.654321m, body.GetProperty("amount").GetDecimal());
        Assert.Equal(api.Clock.GetUtcNow().AddDays(10), body.GetProperty("expiresAt").GetDateTimeOffset());
        var lots = (await Json(await user.GetAsync($"/v1/wallets/{userId}/lots"))).GetProperty("items").EnumerateArray().ToList();
        var lot = Assert.Single(lots, l => l.GetProperty("id").GetInt64() == body.GetProperty("lotId").GetInt64());
        Assert.Equal("promotional", lot.GetProperty("kind").GetString());
        Assert.Equal($"promotion:{id}", lot.GetProperty("source").GetString());
        var entry = (await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger?limit=1"))).GetProperty("items")[0];
        Assert.Equal("grant", entry.GetProperty("kind").GetString());
        Assert.Equal(7.654321m, entry.GetProperty("amount").GetDecimal());
        Assert.Equal(12.654321m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());

        var promotion = await Json(await Admin.GetAsync($"/v1/promotions/{id}"));
        Assert.Equal(1, promotion.GetProperty("redemptions").GetInt32());
        Assert.Equal("active", promotion.GetProperty("state").GetString());
        var listed = (await Json(await Admin.GetAsync("/v1/promotions?limit=500"))).GetProperty("items").EnumerateArray();
        Assert.Contains(listed, p => p.GetProperty("promotionId").GetString() == id);
    }

    [Fact]
    [Trait("Rule", "R-PROMO-6")]
    public async Task A_redemption_replays_its_first_answer_by_key_refusals_included_and_another_code_under_the_key_is_409()
    {
        var code = NewCode();
        var id = (await CreateAsync(new { code, amount = 2, lotValidDays = 5 })).GetProperty("promotionId").GetString()!;
        var (userId, user) = await api.NewUserAsync("replay");

        var first = await RedeemAsync(user, userId, code, "k1");
        var again = await RedeemAsync(user, userId, code, "k1");
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await again.Content.ReadAsStringAsync());
        await AssertProblemAsync(await RedeemAsync(user, userId, NewCode(), "k1"), HttpStatusCode.Conflict, "idempotency_conflict");

        // A second redemption of the same promotion under another key: refused, and the refusal is what that key answers from now on.
        await AssertProblemAsync(await RedeemAsync(user, userId, code, "k2"), HttpStatusCode.Conflict, "already_redeemed");
        await AssertProblemAsync(await RedeemAsync(user, userId, code, "k2"), HttpStatusCode.Conflict, "already_redeemed");
        var unknown = NewCode();
        await AssertProblemAsync(await RedeemAsync(user, userId, unknown, "k3"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await RedeemAsync(user, userId, unknown, "k3"), HttpStatusCode.NotFound, "promotion_not_found");

        Assert.Equal(1, (await Json(await Admin.GetAsync($"/v1/promotions/{id}"))).GetProperty("redemptions").GetInt32());
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'grant' AND reference = $2",
            userId, $"promotion:{id}"));
    }

    [Fact]
    [Trait("Rule", "R-PROMO-3")]
    public async Task Capped_disabled_future_and_used_single_use_codes_are_refused_with_their_codes()
    {
        var capped = NewCode();
        await CreateAsync(new { code = capped, amount = 1, lotValidDays = 5, maxRedemptions = 1 });
        var disabled = NewCode();
        var disabledId = (await CreateAsync(new { code = disabled, amount = 1, lotValidDays = 5 })).GetProperty("promotionId").GetString()!;
        var later = NewCode();
        await CreateAsync(new { code = later, amount = 1, lotValidDays = 5, startsAt = api.Clock.GetUtcNow().AddDays(1) });
        var generated = await CreateAsync(new { codeCount = 2, amount = 3, lotExpiresAt = api.Clock.GetUtcNow().AddDays(30) });
        var codes = generated.GetProperty("codes").EnumerateArray().Select(c => c.GetString()!).ToList();
        Assert.Equal(JsonValueKind.Null, generated.GetProperty("code").ValueKind);
        Assert.Equal(2, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}$", c));
        var (a, userA) = await api.NewUserAsync("codes-a");
        var (b, userB) = await api.NewUserAsync("codes-b");

        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(userA, a, capped, "c1")).StatusCode);
        await AssertProblemAsync(await RedeemAsync(userB, b, capped, "c1"), HttpStatusCode.Gone, "promotion_exhausted");
        var disabledView = await Json(await Admin.PostAsync($"/v1/promotions/{disabledId}/disable", null));
        Assert.Equal("disabled", disabledView.GetProperty("state").GetString());
        await AssertProblemAsync(await RedeemAsync(userA, a, disabled, "c2"), HttpStatusCode.Gone, "promotion_ended");
        await AssertProblemAsync(await RedeemAsync(userA, a, later, "c3"), HttpStatusCode.Gone, "promotion_ended");
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(userA, a, codes[0], "c4")).StatusCode);
        await AssertProblemAsync(await RedeemAsync(userB, b, codes[0], "c4"), HttpStatusCode.Gone, "promotion_exhausted");
        await AssertProblemAsync(await RedeemAsync(userA, a, codes[1], "c5"), HttpStatusCode.Conflict, "already_redeemed");
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(userB, b, codes[1], "c5")).StatusCode);
        await AssertProblemAsync(await RedeemAsync(userB, "nobody-" + Guid.NewGuid().ToString("N"), capped, "c6"), HttpStatusCode.NotFound, "wallet_not_found");
    }

    [Fact]
    [Trait("Rule", "R-PROMO-3")]
    public async Task A_new_wallets_only_promotion_refuses_a_wallet_created_before_it_and_grants_one_created_after()
    {
        var (old, oldUser) = await api.NewUserAsync("before");
        var code = NewCode();
        await CreateAsync(new { code, amount = 1, lotValidDays = 5, newWalletsOnly = true });
        api.Clock.Advance(TimeSpan.FromSeconds(1));
        var (fresh, freshUser) = await api.NewUserAsync("after");

        await AssertProblemAsync(await RedeemAsync(oldUser, old, code, "n1"), HttpStatusCode.Conflict, "promotion_not_eligible");
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(freshUser, fresh, code, "n1")).StatusCode);
    }

    public static TheoryData<string, string> BadPromotions => new()
    {
        { """{"code":"X1","amount":1,"lotValidDays":5}""", "invalid_request" },
        { """{"amount":1,"lotValidDays":5}""", "invalid_request" },
        { """{"code":"GOODCODE1","codeCount":3,"amount":1,"lotValidDays":5}""", "invalid_request" },
        { """{"codeCount":10001,"amount":1,"lotValidDays":5}""", "invalid_request" },
        { """{"code":"GOODCODE1","amount":0,"lotValidDays":5}""", "invalid_amount" },
        { """{"code":"GOODCODE1","amount":1.0000001,"lotValidDays":5}""", "invalid_amount" },
        { """{"code":"GOODCODE1","amount":1000000.01,"lotValidDays":5}""", "invalid_amount" },
        { """{"code":"GOODCODE1","amount":1}""", "invalid_expiry" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":5,"lotExpiresAt":"2099-01-01T00:00:00Z"}""", "invalid_expiry" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":0}""", "invalid_expiry" },
        { """{"code":"GOODCODE1","amount":1,"lotExpiresAt":"2001-01-01T00:00:00Z"}""", "invalid_expiry" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":5,"startsAt":"2099-02-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z"}""", "invalid_request" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":5,"maxRedemptions":0}""", "invalid_request" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":5,"scope":{"instanceTypes":["A100"]}}""", "scope_not_supported" },
        { """{"code":"GOODCODE1","amount":1,"lotValidDays":5,"colour":"red"}""", "invalid_request" },
    };

    [Theory]
    [MemberData(nameof(BadPromotions))]
    [Trait("Rule", "R-PROMO-1")]
    public async Task A_bad_promotion_is_refused_with_its_code_and_nothing_is_written(string body, string code)
    {
        long before = await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_promotions");
        var response = await Admin.PostAsync("/v1/promotions", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, code);
        Assert.Equal(before, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_promotions"));
    }

    [Fact]
    [Trait("Rule", "R-PROMO-1")]
    public async Task A_shared_code_that_another_promotion_has_is_409_and_an_unknown_promotion_is_404()
    {
        var code = NewCode();
        await CreateAsync(new { code, amount = 1, lotValidDays = 5 });
        await AssertProblemAsync(await Admin.PostAsJsonAsync("/v1/promotions", new { code = code.ToLowerInvariant(), amount = 2, lotValidDays = 5 }),
            HttpStatusCode.Conflict, "promotion_code_taken");
        await AssertProblemAsync(await Admin.GetAsync("/v1/promotions/promo_nothing"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await Admin.PostAsync("/v1/promotions/promo_nothing/disable", null), HttpStatusCode.NotFound, "promotion_not_found");
    }

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public async Task Failed_redemptions_are_limited_per_key_with_429_and_retry_after_and_a_valid_code_waits_too()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web => web.UseSetting("Qubrid:Redemptions:MaxFailuresPerKey", "3"));
        var code = NewCode();
        await CreateAsync(new { code, amount = 1, lotValidDays = 5 });
        var (userId, _) = await api.NewUserAsync("guess");
        var user = limited.CreateClient();
        user.DefaultRequestHeaders.Authorization = new("Bearer", await api.IssueKeyAsync("user", userId));

        for (int i = 0; i < 3; i++) await AssertProblemAsync(await RedeemAsync(user, userId, NewCode(), $"g{i}"), HttpStatusCode.NotFound, "promotion_not_found");
        var refused = await RedeemAsync(user, userId, code, "g-right");

        await AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "rate_limited");
        Assert.Equal(TimeSpan.FromMinutes(15), refused.Headers.RetryAfter?.Delta);
        api.Clock.Advance(TimeSpan.FromMinutes(15));
        Assert.Equal(HttpStatusCode.Created, (await RedeemAsync(user, userId, code, "g-right")).StatusCode);
    }

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public async Task Parallel_wrong_codes_under_one_key_reach_the_grain_at_most_the_limit_and_the_rest_are_429()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web => web.UseSetting("Qubrid:Redemptions:MaxFailuresPerKey", "3"));
        var (userId, _) = await api.NewUserAsync("rush-guess");
        var user = limited.CreateClient();
        user.DefaultRequestHeaders.Authorization = new("Bearer", await api.IssueKeyAsync("user", userId));

        var answers = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() => RedeemAsync(user, userId, NewCode(), $"p{i}"))));

        var statuses = answers.Select(a => a.StatusCode).ToList();
        Assert.Equal(3, statuses.Count(s => s == HttpStatusCode.NotFound));
        Assert.Equal(57, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public async Task A_new_api_key_does_not_reset_the_users_failed_redemptions()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web => web.UseSetting("Qubrid:Redemptions:MaxFailuresPerUser", "2"));
        var (userId, _) = await api.NewUserAsync("rotate");
        HttpClient NewKeyClient(string key)
        {
            var client = limited.CreateClient();
            client.DefaultRequestHeaders.Authorization = new("Bearer", key);
            return client;
        }

        await AssertProblemAsync(await RedeemAsync(NewKeyClient(await api.IssueKeyAsync("user", userId)), userId, NewCode(), "r1"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await RedeemAsync(NewKeyClient(await api.IssueKeyAsync("user", userId)), userId, NewCode(), "r2"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await RedeemAsync(NewKeyClient(await api.IssueKeyAsync("user", userId)), userId, NewCode(), "r3"), HttpStatusCode.TooManyRequests, "rate_limited");
    }

    [Fact]
    [Trait("Rule", "R-PROMO-7")]
    public async Task Failed_redemptions_are_limited_per_client_address_across_keys()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web => web.UseSetting("Qubrid:Redemptions:MaxFailuresPerAddress", "2"));
        var clients = new List<(string UserId, HttpClient Client)>();
        for (int i = 0; i < 3; i++)
        {
            var (userId, _) = await api.NewUserAsync("address");
            var client = limited.CreateClient();
            client.DefaultRequestHeaders.Authorization = new("Bearer", await api.IssueKeyAsync("user", userId));
            clients.Add((userId, client));
        }

        await AssertProblemAsync(await RedeemAsync(clients[0].Client, clients[0].UserId, NewCode(), "a"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await RedeemAsync(clients[1].Client, clients[1].UserId, NewCode(), "a"), HttpStatusCode.NotFound, "promotion_not_found");
        await AssertProblemAsync(await RedeemAsync(clients[2].Client, clients[2].UserId, NewCode(), "a"), HttpStatusCode.TooManyRequests, "rate_limited");
    }

    [Fact]
    public async Task A_redemption_needs_an_idempotency_key_and_a_code()
    {
        var (userId, user) = await api.NewUserAsync("bad-redeem");
        await AssertProblemAsync(await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/redemptions", new { code = "WHATEVER1" })),
            HttpStatusCode.BadRequest, "idempotency_key_required");
        await AssertProblemAsync(await RedeemAsync(user, userId, "  ", "b1"), HttpStatusCode.BadRequest, "invalid_request");
        await AssertProblemAsync(await RedeemAsync(user, userId, new string('A', 65), "b2"), HttpStatusCode.BadRequest, "invalid_request");
    }
}
