using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

[Collection(ApiCollection.Name)]
public class RateLimitTests(ApiHost api)
{
    [Fact]
    [Trait("Rule", "R-INPUT-4")]
    public async Task A_key_over_its_rate_gets_429_problem_details_with_retry_after()
    {
        // The same system with a tight per-key bucket: 2 requests of burst, refilled at 1 per second.
        await using var limited = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Qubrid:Api:RequestsPerSecondPerKey", "1");
            web.UseSetting("Qubrid:Api:BurstPerKey", "2");
        });
        var client = limited.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", api.AdminKey);

        var statuses = new List<HttpResponseMessage>();
        for (int i = 0; i < 6; i++) statuses.Add(await client.GetAsync("/v1/me"));

        var refused = statuses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.Contains(statuses, r => r.StatusCode == HttpStatusCode.OK);
        var first = refused[0];
        Assert.Equal("application/problem+json", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal("rate_limited", (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.True(first.Headers.RetryAfter is not null, "429 without Retry-After");
    }
}
