using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;
using Qubrid.Tests.Webhooks;

namespace Qubrid.Tests.Api;

/// <summary>The webhook calls over HTTP: the secret shown once, the address rule for user URLs, delivery, the log and replay.</summary>
[Collection(ApiCollection.Name)]
public class WebhooksApiTests(ApiHost api)
{
    [Theory]
    [InlineData("http://hooks.example.com/x")]     // not https
    [InlineData("https://10.1.2.3/x")]             // private
    [InlineData("https://169.254.169.254/latest")] // link-local (cloud metadata)
    [InlineData("https://[::1]/x")]                // loopback
    [InlineData("https://localhost/x")]            // resolves to loopback
    [InlineData("https://user:pw@hooks.example.com/x")]
    [InlineData("ftp://hooks.example.com/x")]
    [InlineData("not a url")]
    [Trait("Rule", "R-HOOK-2")]
    public async Task A_user_endpoint_must_be_public_https_and_a_refused_one_is_not_written(string url)
    {
        var (userId, user) = await api.NewUserAsync("hookurl");
        var response = await user.PostAsJsonAsync("/v1/webhooks", new { url, events = new[] { "low_balance" } });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_webhook_url", (await HttpJson.Json(response)).GetProperty("code").GetString());
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_webhook_endpoints WHERE user_id = $1", userId));
    }

    [Fact]
    [Trait("Rule", "R-HOOK-1")]
    public async Task Unknown_event_types_and_webhook_disabled_for_a_user_are_refused()
    {
        var (_, user) = await api.NewUserAsync("hookkinds");
        var unknown = await user.PostAsJsonAsync("/v1/webhooks", new { url = "http://127.0.0.1:1/x", events = new[] { "everything" } });
        Assert.Equal("invalid_request", (await HttpJson.Json(unknown)).GetProperty("code").GetString());
        var adminOnly = await user.PostAsJsonAsync("/v1/webhooks", new { url = "http://127.0.0.1:1/x", events = new[] { "webhook_disabled" } });
        Assert.Equal("invalid_request", (await HttpJson.Json(adminOnly)).GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-HOOK-4")]
    [Trait("Rule", "R-HOOK-5")]
    public async Task The_secret_is_shown_once_deliveries_are_signed_listed_and_a_replay_sends_the_event_again()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var (userId, user) = await api.NewUserAsync("hookapi");
        var created = await user.PostAsJsonAsync("/v1/webhooks", new { url = receiver.Url, events = new[] { "topup_failed" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await HttpJson.Json(created);
        var id = body.GetProperty("id").GetString()!;
        receiver.Secret = body.GetProperty("secret").GetString()!;
        Assert.StartsWith("whsec_", receiver.Secret);
        Assert.Equal(userId, body.GetProperty("userId").GetString());

        var shown = await (await user.GetAsync("/v1/webhooks")).Content.ReadAsStringAsync();
        Assert.Contains(id, shown);
        Assert.DoesNotContain(receiver.Secret, shown);
        Assert.DoesNotContain(receiver.Secret, await (await user.GetAsync($"/v1/webhooks/{id}")).Content.ReadAsStringAsync());

        using var recorded = BillingSignals<BillingDiagnostics.WebhookAttemptRecorded>.Where(r => r.EndpointId == id);
        var declined = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 12.5m, paymentToken = "tok_chargeDeclined" }, "d1"));
        Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
        var first = (await receiver.UntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(30), "the topup_failed delivery"))[0];
        Assert.True(first.SignatureValid);
        Assert.Equal("topup_failed", first.Type);
        Assert.Equal(12.5m, first.Data.GetProperty("amount").GetDecimal());
        Assert.Equal(userId, first.Data.GetProperty("userId").GetString());

        // The delivery is recorded just after the receiver answered it: wait for the delivery loop's record.
        var attempt = Assert.Single(await recorded.UntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(30), "the delivery's record"));
        Assert.Equal((first.EventId, true), (attempt.EventId, attempt.Succeeded));
        var log = await HttpJson.Json(await user.GetAsync($"/v1/webhooks/{id}/deliveries"));
        var delivery = Assert.Single(log.GetProperty("items").EnumerateArray());
        Assert.Equal("succeeded", delivery.GetProperty("status").GetString());
        Assert.Equal($"evt_{first.EventId}", delivery.GetProperty("eventId").GetString());

        var replayed = await user.PostAsync($"/v1/webhooks/{id}/deliveries/{delivery.GetProperty("id").GetInt64()}/replay", null);
        Assert.Equal(HttpStatusCode.OK, replayed.StatusCode);
        Assert.Equal(2, (await HttpJson.Json(replayed)).GetProperty("attempts").GetInt32());
        var both = await receiver.UntilAsync(r => r.Count >= 2, TimeSpan.FromSeconds(30), "the replay");
        Assert.Equal(first.EventId, both[1].EventId);
        Assert.True(both[1].SignatureValid);

        var missing = await user.PostAsync($"/v1/webhooks/{id}/deliveries/999999999/replay", null);
        Assert.Equal("delivery_not_found", (await HttpJson.Json(missing)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await user.DeleteAsync($"/v1/webhooks/{id}")).StatusCode);
        Assert.Equal("webhook_not_found", (await HttpJson.Json(await user.GetAsync($"/v1/webhooks/{id}"))).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_malformed_webhook_id_is_a_bad_request_and_an_unknown_one_not_found()
    {
        var (_, user) = await api.NewUserAsync("hookid");
        Assert.Equal("invalid_request", (await HttpJson.Json(await user.GetAsync("/v1/webhooks/nope"))).GetProperty("code").GetString());
        var unknown = await user.GetAsync("/v1/webhooks/wh_000000000000000000000000");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("webhook_not_found", (await HttpJson.Json(unknown)).GetProperty("code").GetString());
    }
}
