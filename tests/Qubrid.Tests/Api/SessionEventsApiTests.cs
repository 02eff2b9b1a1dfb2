using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// SPEC "GPU sessions": when credits run out the session is terminated with reason insufficient_credits, the
/// wallet gives all it has and no more, and the orchestrator learns it from the server-sent event stream,
/// which can be resumed with Last-Event-ID without repeating what it already delivered.
/// </summary>
[Collection(ApiCollection.Name)]
public class SessionEventsApiTests(ApiHost api)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private sealed record SseEvent(string? Id, string? Type, string Data)
    {
        public JsonElement Json => JsonDocument.Parse(Data).RootElement;
    }

    [Fact]
    [Trait("Rule", "R-SESS-7")]
    public async Task A_session_that_runs_out_of_credits_is_terminated_and_the_event_stream_reports_it_once()
    {
        var admin = api.Client(api.AdminKey);
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        // An instance type at 3600 USD per hour, i.e. 1 USD per second (unique, so no other test sees it).
        var instanceType = $"BIGX{Guid.NewGuid().ToString("N")[..12]}";
        var rate = await admin.PutAsJsonAsync($"/v1/rates/{instanceType}", new { usdPerHour = 3600m });
        Assert.Equal(200, (int)rate.StatusCode);

        // The 10-minute runway at 1 USD/s needs 600 USD: grant it on top of the 5 USD bonus, start, then take the
        // 600 back, so 5 USD (5 s) are left and the session must be terminated at its fifth charge.
        var (userId, user) = await api.NewUserAsync("drain");
        await CreditAsync(admin, userId, 600m);
        // 1 USD/s is far above the platform's default hourly limit: the admin raises this wallet's.
        Assert.Equal(200, (int)(await admin.PutAsJsonAsync($"/v1/wallets/{userId}/limits", new { perHour = 100_000m })).StatusCode);
        var sessionId = $"drain-s-{Guid.NewGuid():N}";
        using var ticks = ReminderTicks.Of(api.Grains.GetGrain<ISessionGrain>(sessionId)); // its charge reminder, as the in-process silo fires it
        var start = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType });
        Assert.True((int)start.StatusCode == 201, $"start: {(int)start.StatusCode} {await start.Content.ReadAsStringAsync()}");
        var startedAt = (await Json(start)).GetProperty("startedAt").GetDateTimeOffset();
        Assert.Equal(api.Clock.GetUtcNow(), startedAt);

        // The stream opened now (it starts at the present), then the debit, then a charge a second: 1 USD each, and the
        // fifth takes the last of the 5 USD, which leaves nothing for the next interval and ends the session.
        using var deadline = new CancellationTokenSource(Bound);
        SseEvent terminated;
        await using (var stream = await OpenStreamAsync(orchestrator, lastEventId: null, deadline.Token))
        {
            var debit = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/adjustments", new { amount = -600m, reason = "take the runway back" }, $"d-{Guid.NewGuid():N}"));
            Assert.True((int)debit.StatusCode == 201, $"debit: {(int)debit.StatusCode} {await debit.Content.ReadAsStringAsync()}");
            for (int second = 1; second <= 5; second++)
            {
                Assert.Single(await ticks.AdvanceAsync(api.Clock, TimeSpan.FromSeconds(1), $"charge {second} of the draining session"));
                Assert.Equal(second < 5 ? "running" : "terminated",
                    (await Json(await orchestrator.GetAsync($"/v1/sessions/{sessionId}"))).GetProperty("state").GetString());
            }
            await ticks.UnregisteredAsync("the terminated session's charge reminder to be removed");
            terminated = await stream.ReadUntilAsync(e => e.Type == "session_terminated" && e.Json.GetProperty("sessionId").GetString() == sessionId, deadline.Token);
        }
        Assert.NotNull(terminated.Id);
        Assert.True(long.TryParse(terminated.Id, out var terminatedId) && terminatedId > 0, $"event id '{terminated.Id}'");
        var data = terminated.Json;
        Assert.Equal(terminatedId, data.GetProperty("id").GetInt64());
        Assert.Equal("session_terminated", data.GetProperty("kind").GetString());
        Assert.Equal(sessionId, data.GetProperty("sessionId").GetString());
        Assert.Equal(userId, data.GetProperty("userId").GetString());
        Assert.Equal("insufficient_credits", data.GetProperty("reason").GetString());
        Assert.Equal(0m, data.GetProperty("balance").GetDecimal());

        // The session and the wallet say the same.
        var session = await Json(await orchestrator.GetAsync($"/v1/sessions/{sessionId}"));
        Assert.Equal("terminated", session.GetProperty("state").GetString());
        Assert.Equal("insufficient_credits", session.GetProperty("endReason").GetString());
        Assert.Equal(startedAt.AddSeconds(5), session.GetProperty("stoppedAt").GetDateTimeOffset());
        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(0m, wallet.GetProperty("total").GetDecimal());
        Assert.Empty(wallet.GetProperty("runningSessions").EnumerateArray());
        // Charged is everything the wallet held besides the 600 taken back: 605 USD in, 600 out by adjustment, the rest by the session.
        Assert.Equal(5m, session.GetProperty("charged").GetDecimal());
        var ledger = (await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger?kind=session_charge&limit=500"))).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal([-1m, -1m, -1m, -1m, -1m], ledger.Select(e => e.GetProperty("amount").GetDecimal()));

        // Resume after the termination: that event is not delivered again. To know when we have read far enough, cause
        // one more event afterwards (another wallet falls below the low-balance runway when its session starts) and read up to it.
        using var resumeDeadline = new CancellationTokenSource(Bound); // its own bound: the first phase may have used most of the other
        await using (var resumed = await OpenStreamAsync(orchestrator, lastEventId: terminated.Id, resumeDeadline.Token))
        {
            var (markerUser, markerClient) = await api.NewUserAsync("marker");
            // Top-up events are for webhooks, not for the orchestrator's stream: one declined, one paid, before the marker.
            Assert.Equal(402, (int)(await markerClient.SendAsync(ApiHost.Post($"/v1/wallets/{markerUser}/topups",
                new { amount = 10, paymentToken = "tok_chargeDeclined" }, $"t-{Guid.NewGuid():N}"))).StatusCode);
            Assert.Equal(201, (int)(await markerClient.SendAsync(ApiHost.Post($"/v1/wallets/{markerUser}/topups",
                new { amount = 10, paymentToken = "tok_visa" }, $"t-{Guid.NewGuid():N}"))).StatusCode);
            await CreditAsync(admin, markerUser, 600m);
            Assert.Equal(200, (int)(await admin.PutAsJsonAsync($"/v1/wallets/{markerUser}/limits", new { perHour = 100_000m })).StatusCode);
            var markerSession = $"marker-s-{Guid.NewGuid():N}";
            Assert.Equal(201, (int)(await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = markerSession, userId = markerUser, instanceType })).StatusCode);
            Assert.Equal(200, (int)(await orchestrator.PostAsync($"/v1/sessions/{markerSession}/stop", null)).StatusCode);

            var delivered = new List<SseEvent>();
            try
            {
                await resumed.ReadUntilAsync(e =>
                {
                    delivered.Add(e);
                    return e.Json.GetProperty("userId").GetString() == markerUser;
                }, resumeDeadline.Token);
            }
            catch (Exception ex)
            {
                await using var cmd = api.Db.CreateCommand("SELECT string_agg(id || ':' || kind || ':' || wallet_id, ' ') FROM qubrid_events");
                throw new Xunit.Sdk.XunitException($"The marker event did not arrive on the resumed stream; delivered={string.Join(",", delivered.Select(d => d.Id + d.Type))} terminated={terminatedId} events={await cmd.ExecuteScalarAsync()}", ex);
            }
            Assert.All(delivered, e => Assert.True(long.Parse(e.Id!) > terminatedId, $"event {e.Id} was delivered again after Last-Event-ID {terminatedId}"));
            Assert.DoesNotContain(delivered, e => e.Type == "session_terminated" && e.Json.GetProperty("sessionId").GetString() == sessionId);
            Assert.Contains(delivered, e => e.Type == "low_balance" && e.Json.GetProperty("userId").GetString() == markerUser);
            Assert.DoesNotContain(delivered, e => e.Type is "topup_failed" or "topup_succeeded");
        }
    }

    private async Task CreditAsync(HttpClient admin, string userId, decimal amount)
    {
        var grant = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/grants",
            new { amount, expiresAt = api.Clock.GetUtcNow().AddDays(1), reason = "runway for the test" }, $"g-{Guid.NewGuid():N}"));
        Assert.True((int)grant.StatusCode == 201, $"grant: {(int)grant.StatusCode} {await grant.Content.ReadAsStringAsync()}");
    }


    private static async Task<EventStream> OpenStreamAsync(HttpClient client, string? lastEventId, CancellationToken deadline)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/sessions/events");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(deadline);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
        return new EventStream(response, reader, cancel);
    }

    /// <summary>A minimal server-sent-events reader (id, event, data fields; a blank line ends an event).</summary>
    private sealed class EventStream(HttpResponseMessage response, StreamReader reader, CancellationTokenSource cancel) : IAsyncDisposable
    {
        public async Task<SseEvent> ReadUntilAsync(Func<SseEvent, bool> done, CancellationToken deadline)
        {
            string? id = null, type = null;
            var data = new List<string>();
            while (true)
            {
                string? line;
                try { line = await reader.ReadLineAsync(deadline); }
                catch (OperationCanceledException) { throw new TimeoutException($"the awaited event did not arrive within {Bound.TotalSeconds} s"); }
                Assert.True(line is not null, "the event stream ended");
                if (line.Length == 0)
                {
                    if (data.Count > 0)
                    {
                        var e = new SseEvent(id, type, string.Join('\n', data));
                        if (done(e)) return e;
                    }
                    id = null;
                    type = null;
                    data.Clear();
                    continue;
                }
                if (line.StartsWith(':')) continue;
                int colon = line.IndexOf(':');
                var field = colon < 0 ? line : line[..colon];
                var value = colon < 0 ? "" : line[(colon + 1)..];
                if (value.StartsWith(' ')) value = value[1..];
                switch (field)
                {
                    case "id": id = value; break;
                    case "event": type = value; break;
                    case "data": data.Add(value); break;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await cancel.CancelAsync();
            reader.Dispose();
            response.Dispose();
            cancel.Dispose();
        }
    }
}
