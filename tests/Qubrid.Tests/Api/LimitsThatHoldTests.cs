using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Qubrid.Api.Apis;
using Qubrid.Api.Auth;
using Qubrid.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Qubrid.Tests.Api;

/// <summary>
/// Limits an attacker cannot wear down: one bucket per key whatever the header's spelling, unknown keys answered from a
/// negative cache and budgeted per address, anonymous requests limited per address, event streams capped per key and
/// starting at the present, and no session grain activated for a session id nobody started.
/// </summary>
[Collection(ApiCollection.Name)]
public class LimitsThatHoldTests(ApiHost api, ITestOutputHelper output)
{
    private static async Task<string?> CodeOf(HttpResponseMessage r) =>
        r.Content.Headers.ContentType?.MediaType == "application/problem+json" ? (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString() : null;

    private static HttpRequestMessage WithAuthorization(string url, string header)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        Assert.True(request.Headers.TryAddWithoutValidation("Authorization", header));
        return request;
    }

    [Fact]
    public async Task Spellings_of_the_bearer_header_share_one_bucket()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Qubrid:Api:RequestsPerSecondPerKey", "1");
            web.UseSetting("Qubrid:Api:BurstPerKey", "3");
        });
        var key = await api.IssueKeyAsync("orchestrator");
        var client = limited.CreateClient();
        var statuses = new List<int>();
        foreach (var header in new[] { $"bearer {key}", $"Bearer  {key}", $"BEARER {key}", $"bearer {key}", $"Bearer  {key}", $"BEARER {key}" })
        {
            using var response = await client.SendAsync(WithAuthorization("/v1/me", header));
            statuses.Add((int)response.StatusCode);
            if ((int)response.StatusCode == 429) Assert.Equal("rate_limited", await CodeOf(response));
        }
        Assert.True(statuses.Count(s => s == 200) >= 3, $"the spellings must authenticate: {string.Join(",", statuses)}");
        Assert.True(statuses.Count(s => s == 429) >= 2, $"3 spellings of one key got 3 buckets: {string.Join(",", statuses)}");
    }

    [Fact]
    public async Task A_storm_of_unknown_keys_costs_a_handful_of_database_queries_and_is_limited_per_address()
    {
        // A process of its own (default settings): its key cache and lookup budget are fresh.
        await using var fresh = api.Factory.WithWebHostBuilder(_ => { });
        var store = fresh.Services.GetRequiredService<ApiKeyStore>();
        var client = fresh.CreateClient();
        Assert.Equal(200, (int)(await client.GetAsync("/v1/rates")).StatusCode); // warm up
        var before = store.LookupQueries;
        var clock = Stopwatch.StartNew();
        var statuses = new Dictionary<int, int>();
        for (int i = 0; i < 1000; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/me");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", $"qbk_user_unknown_{i:D6}_{Guid.NewGuid():N}");
            using var response = await client.SendAsync(request);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            Assert.True(status is 401 or 429, $"unknown key answered {status}");
            Assert.Equal(status == 401 ? "unauthorized" : "rate_limited", await CodeOf(response));
        }
        var queries = store.LookupQueries - before;
        var seconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"unknown-key storm: 1000 requests in {seconds:0.0} s, {queries} database queries; answers {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        // The budget: a burst of 5 and 1 more a second.
        Assert.True(queries <= 5 + Math.Ceiling(seconds) + 1, $"{queries} database queries for 1000 unknown keys in {seconds:0.0} s");

        // One unknown key repeated is answered from the negative cache.
        await using var other = api.Factory.WithWebHostBuilder(_ => { });
        var otherStore = other.Services.GetRequiredService<ApiKeyStore>();
        var repeat = other.CreateClient();
        repeat.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", $"qbk_user_unknown_{Guid.NewGuid():N}");
        for (int i = 0; i < 50; i++) Assert.Equal(401, (int)(await repeat.GetAsync("/v1/me")).StatusCode);
        Assert.Equal(1, otherStore.LookupQueries);
    }

    [Fact]
    public async Task Concurrent_first_requests_with_a_new_valid_key_share_one_lookup_and_are_not_throttled()
    {
        // A lookup budget of one: a valid key must cost none of it, however many requests bring it at once.
        await using var fresh = api.Factory.WithWebHostBuilder(web => web.UseSetting("Qubrid:Api:UnknownKeyLookupBurstPerAddress", "1"));
        var store = fresh.Services.GetRequiredService<ApiKeyStore>();
        var key = await api.IssueKeyAsync("orchestrator");
        var client = fresh.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ => (int)(await client.GetAsync("/v1/me")).StatusCode));
        Assert.All(statuses, s => Assert.Equal(200, s));
        Assert.Equal(1, store.LookupQueries);
        var second = await api.IssueKeyAsync("orchestrator");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", second);
        Assert.Equal(200, (int)(await client.GetAsync("/v1/me")).StatusCode);
    }

    [Fact]
    public async Task Anonymous_requests_are_limited_per_address()
    {
        await using var limited = api.Factory.WithWebHostBuilder(web =>
        {
            web.UseSetting("Qubrid:Api:AnonymousRequestsPerSecondPerAddress", "1");
            web.UseSetting("Qubrid:Api:AnonymousBurstPerAddress", "3");
        });
        var client = limited.CreateClient();
        var responses = new List<HttpResponseMessage>();
        for (int i = 0; i < 8; i++) responses.Add(await client.GetAsync("/v1/rates"));
        var refused = responses.Where(r => (int)r.StatusCode == 429).ToList();
        Assert.True(refused.Count >= 3, $"8 anonymous requests against a burst of 3: {string.Join(",", responses.Select(r => (int)r.StatusCode))}");
        Assert.Equal("rate_limited", await CodeOf(refused[0]));
        Assert.NotNull(refused[0].Headers.RetryAfter);
        // A valid key has its own bucket.
        var keyed = limited.CreateClient();
        keyed.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", api.AdminKey);
        Assert.Equal(200, (int)(await keyed.GetAsync("/v1/rates")).StatusCode);
    }

    [Fact]
    public async Task Event_streams_are_capped_per_key()
    {
        var (keyId, key) = await api.IssueKeyWithIdAsync("orchestrator");
        var gate = api.Factory.Services.GetRequiredService<EventStreamGate>();
        var client = api.Client(key);
        var open = new List<HttpResponseMessage>();
        try
        {
            for (int i = 0; i < 4; i++)
            {
                var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events"), HttpCompletionOption.ResponseHeadersRead);
                open.Add(response);
                Assert.Equal(200, (int)response.StatusCode);
            }
            using (var fifth = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events"), HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(429, (int)fifth.StatusCode);
                Assert.Equal("too_many_streams", await CodeOf(fifth));
            }
            // Another key is not affected.
            using (var others = await api.Client(await api.IssueKeyAsync("orchestrator"))
                       .SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events"), HttpCompletionOption.ResponseHeadersRead))
                Assert.Equal(200, (int)others.StatusCode);

            // Closing one makes room for one, once the server has seen it end (a signal, not a poll).
            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            void OnExited(string id) { if (id == keyId && gate.Open(keyId) <= 3) ended.TrySetResult(); }
            gate.Exited += OnExited;
            open[0].Dispose();
            open.RemoveAt(0);
            await ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
            gate.Exited -= OnExited;
            var again = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events"), HttpCompletionOption.ResponseHeadersRead);
            open.Add(again);
            Assert.Equal(200, (int)again.StatusCode);
        }
        finally
        {
            foreach (var r in open) r.Dispose();
        }
    }

    [Fact]
    public async Task A_stream_without_Last_Event_ID_starts_at_the_present()
    {
        var client = api.Client(await api.IssueKeyAsync("orchestrator"));
        var old = await InsertEventAsync("old");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events"), HttpCompletionOption.ResponseHeadersRead, deadline.Token);
        Assert.Equal(200, (int)response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
        var marker = await InsertEventAsync("marker");
        var ids = new List<long>();
        while (!ids.Contains(marker))
        {
            var line = await reader.ReadLineAsync(deadline.Token);
            Assert.NotNull(line);
            if (line.StartsWith("id: ", StringComparison.Ordinal)) ids.Add(long.Parse(line[4..]));
        }
        Assert.DoesNotContain(old, ids);
        Assert.All(ids, id => Assert.True(id > old, $"event {id} from before the stream was opened was delivered"));
    }

    private async Task<long> InsertEventAsync(string what) => await TestDatabase.ScalarAsync(api.Db,
        "INSERT INTO qubrid_events (at, kind, wallet_id, balance, runway_seconds) VALUES ($2, 'low_balance', $1, 1000000, 60) RETURNING id",
        $"present-{what}-{Guid.NewGuid():N}", api.Clock.GetUtcNow());

    [Fact]
    public async Task Reading_session_ids_nobody_started_activates_no_session_grain()
    {
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var (_, user) = await api.NewUserAsync("nosession");
        var ids = Enumerable.Range(0, 20).Select(i => $"never-started-{i}-{Guid.NewGuid():N}").ToList();
        foreach (var id in ids)
        {
            using var asOrchestrator = await orchestrator.GetAsync($"/v1/sessions/{id}");
            Assert.Equal(404, (int)asOrchestrator.StatusCode);
            Assert.Equal("session_not_found", await CodeOf(asOrchestrator));
            using var asUser = await user.GetAsync($"/v1/sessions/{id}");
            Assert.Equal(404, (int)asUser.StatusCode);
            using var stop = await orchestrator.PostAsync($"/v1/sessions/{id}/stop", null);
            Assert.Equal(404, (int)stop.StatusCode);
        }

        var cluster = api.Factory.Services.GetRequiredService<IClusterClient>();
        var stats = await cluster.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics();
        var activated = stats.Select(s => s.GrainId.Key.ToString()).Where(k => ids.Contains(k!)).ToList();
        Assert.True(activated.Count == 0, $"{activated.Count} session grains were activated for ids nobody started");
    }
}
