using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>GET /v1/sessions: what the wallets record, newest first, paged with a cursor, filtered by user and state.</summary>
[Collection(ApiCollection.Name)]
public class SessionListApiTests(ApiHost api)
{

    [Fact]
    [Trait("Rule", "R-SESS-10")]
    public async Task Pages_return_every_session_of_a_user_once_newest_first_and_filter_by_state()
    {
        var (userId, user) = await api.NewUserAsync("list");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            var id = $"list-{i}-{Guid.NewGuid():N}";
            ids.Add(id);
            api.Clock.Advance(TimeSpan.FromSeconds(1)); // each started a second after the one before
            Assert.Equal(HttpStatusCode.Created, (await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = id, userId, instanceType = "T4" })).StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await orchestrator.PostAsync($"/v1/sessions/{ids[1]}/stop", null)).StatusCode);

        var seen = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await Json(await orchestrator.GetAsync($"/v1/sessions?userId={userId}&limit=2" + (cursor is null ? "" : $"&cursor={cursor}")));
            seen.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("nextCursor").GetString();
        } while (cursor is not null);
        Assert.Equal(Enumerable.Reverse(ids), seen.Select(s => s.GetProperty("sessionId").GetString()));
        // The rate as it was set, as GET shows it: not the database's numeric(18,6) form 0.680000.
        Assert.All(seen, s => Assert.Equal("0.68", s.GetProperty("usdPerHour").GetRawText()));

        var running = await Json(await user.GetAsync("/v1/sessions?state=running"));
        Assert.Equal(4, running.GetProperty("items").GetArrayLength());
        var stopped = await Json(await user.GetAsync($"/v1/sessions?userId={userId}&state=stopped"));
        var only = Assert.Single(stopped.GetProperty("items").EnumerateArray());
        Assert.Equal(ids[1], only.GetProperty("sessionId").GetString());
        foreach (var id in ids) await orchestrator.PostAsync($"/v1/sessions/{id}/stop", null);
    }

    [Theory]
    [InlineData("state=paused")]
    [InlineData("limit=0")]
    [InlineData("limit=201")]
    [InlineData("cursor=not-a-cursor")]
    [InlineData("userId=bad%0A")]
    public async Task Bad_list_parameters_are_400_problems(string query)
    {
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var response = await orchestrator.GetAsync($"/v1/sessions?{query}");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_request", (await Json(response)).GetProperty("code").GetString());
    }
}
