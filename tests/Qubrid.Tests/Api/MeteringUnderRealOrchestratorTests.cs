using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// The ways metering lost or drained money under an orchestrator that behaves like a real one, each through the
/// HTTP API (the lifecycle simulation found them first; see docs/design.md): re-posted starts, many sessions on a
/// small wallet, a start that failed half-way, queries cheaper than a micro-credit, a database connection broken
/// under an idle wallet. ApiHost charges every second of its clock, which moves when a test moves it.
/// </summary>
[Collection(ApiCollection.Name)]
public class MeteringUnderRealOrchestratorTests(ApiHost api)
{

    private async Task<HttpClient> OrchestratorAsync() => api.Client(await api.IssueKeyAsync("orchestrator"));

    private async Task<long> SessionChargesAsync(string userId, string sessionId) => await TestDatabase.ScalarAsync(api.Db,
        "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND session_id = $2 AND kind = 'session_charge'", userId, sessionId);

    /// <summary>The wallet's charge reminder row: its first due time and version (a re-registration changes both), exactly one.</summary>
    private async Task<string?> ChargeReminderAsync(string userId)
    {
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM orleansreminderstable WHERE remindername = $1", $"charge:{userId}"));
        return await TestDatabase.ScalarTextAsync(api.Db,
            "SELECT starttime::text || ' v' || version FROM orleansreminderstable WHERE remindername = $1", $"charge:{userId}");
    }

    [Fact]
    [Trait("Rule", "R-SESS-3")]
    public async Task Starts_reposted_faster_than_the_interval_change_nothing_and_the_session_is_still_charged_every_interval()
    {
        var interval = TimeSpan.FromSeconds(1); // ApiHost's charge interval
        var (userId, _) = await api.NewUserAsync("repost");
        var orchestrator = await OrchestratorAsync();
        var sessionId = $"repost-{Guid.NewGuid():N}";
        var start = new { sessionId, userId, instanceType = "T4" };
        using var ticks = ReminderTicks.Of(api.Grains.GetGrain<ISessionGrain>(sessionId)); // its charge reminder, as the in-process silo fires it
        var first = await orchestrator.PostAsJsonAsync("/v1/sessions", start);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var startedAt = (await Json(first)).GetProperty("startedAt").GetDateTimeOffset();
        Assert.Equal(api.Clock.GetUtcNow(), startedAt);
        var reminder = await ChargeReminderAsync(userId);

        // A reconcile loop re-posts the start between the charges (5 times before each of the first 3): each answer is 200,
        // the same session, and the charge reminder stays exactly as the first start registered it (same start, same version).
        for (int charge = 1; charge <= 3; charge++)
        {
            for (int i = 0; i < 5; i++)
            {
                var again = await orchestrator.PostAsJsonAsync("/v1/sessions", start);
                Assert.Equal(HttpStatusCode.OK, again.StatusCode);
                var body = await Json(again);
                Assert.Equal(startedAt, body.GetProperty("startedAt").GetDateTimeOffset());
                Assert.Equal("running", body.GetProperty("state").GetString());
            }
            Assert.Equal(reminder, await ChargeReminderAsync(userId));
            var tick = Assert.Single(await ticks.AdvanceAsync(api.Clock, interval, $"charge {charge} of the session"));
            Assert.Equal((startedAt + charge * interval).UtcDateTime, tick.Status.CurrentTickTime);
            Assert.Equal(charge, await SessionChargesAsync(userId, sessionId)); // one charge per interval, no more
        }
        // Charging went on as if the start had been posted once: every tick kept the first start's schedule.
        Assert.All(ticks.Seen, t => Assert.Equal((startedAt + interval).UtcDateTime, t.Status.FirstTickTime));
        Assert.Equal(reminder, await ChargeReminderAsync(userId));

        var stopped = await Json(await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null));
        Assert.Equal(startedAt + 3 * interval, stopped.GetProperty("stoppedAt").GetDateTimeOffset());
        Assert.Equal(Qubrid.Core.Metering.Owed(0.68m, startedAt, startedAt + 3 * interval).ToUsd(), stopped.GetProperty("charged").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-SESS-2")]
    public async Task A_start_must_be_covered_at_the_burn_rate_of_every_running_session_plus_the_new_one()
    {
        var (userId, user) = await api.NewUserAsync("runway"); // 5 USD: one H100 (3.64 USD for 10 minutes), not two
        var orchestrator = await OrchestratorAsync();
        var firstId = $"rw1-{Guid.NewGuid():N}";
        var first = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = firstId, userId, instanceType = "H100" });
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);

        var second = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = $"rw2-{Guid.NewGuid():N}", userId, instanceType = "H100" });
        Assert.Equal(HttpStatusCode.PaymentRequired, second.StatusCode);
        Assert.Equal("insufficient_credits", (await Json(second)).GetProperty("code").GetString());
        var many = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId = $"rw-many-{i}-{Guid.NewGuid():N}", userId, instanceType = "H100" })));
        Assert.All(many, r => Assert.Equal(HttpStatusCode.PaymentRequired, r.StatusCode));

        // The runway shown uses the same figure: under 5 USD ÷ 21.84 USD/h.
        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Single(wallet.GetProperty("runningSessions").EnumerateArray());
        Assert.True(wallet.GetProperty("runwaySeconds").GetInt64() <= (long)(5m * 3600m / 21.84m));
        Assert.Equal(HttpStatusCode.OK, (await orchestrator.PostAsync($"/v1/sessions/{firstId}/stop", null)).StatusCode);
    }

    [Fact]
    [Trait("Rule", "R-SESS-8")]
    public async Task Get_and_stop_see_a_session_the_wallet_opened_even_when_its_start_failed_half_way()
    {
        var (userId, _) = await api.NewUserAsync("halfstart");
        var orchestrator = await OrchestratorAsync();
        var sessionId = $"half-{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "A100" })).StatusCode);

        // What a start that died after the wallet opened the session leaves behind: the wallet's record and the charge
        // reminder, but no session state (its write failed and the orchestrator got a 503).
        var cluster = api.Factory.Services.GetRequiredService<IClusterClient>();
        await TestDatabase.ExecAsync(api.Db, "DELETE FROM orleansstorage WHERE grainidextensionstring = $1", sessionId);
        await cluster.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var get = await orchestrator.GetAsync($"/v1/sessions/{sessionId}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal("running", (await Json(get)).GetProperty("state").GetString());
        var stop = await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null);
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        var stopped = await Json(stop);
        Assert.Equal("stopped", stopped.GetProperty("state").GetString());
        Assert.Equal(Qubrid.Core.Metering.Owed(1.69m, stopped.GetProperty("startedAt").GetDateTimeOffset(), stopped.GetProperty("stoppedAt").GetDateTimeOffset()).ToUsd(),
            stopped.GetProperty("charged").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-INF-2")]
    [Trait("Rule", "R-INF-4")]
    public async Task Queries_cheaper_than_a_micro_credit_are_charged_cumulatively_per_model()
    {
        var (userId, user) = await api.NewUserAsync("submicro");
        var orchestrator = await OrchestratorAsync();
        // llama-3.1-8b-instruct: 0.05 USD per million input tokens = 0.05 micro-credit per token; 10 tokens = 0.5 µ.
        var amounts = new List<decimal>();
        for (int i = 0; i < 10; i++)
        {
            var response = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
                new { userId, model = "llama-3.1-8b-instruct", inputTokens = 10, outputTokens = 0 }, $"sub-{i}-{Guid.NewGuid():N}"));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            amounts.Add((await Json(response)).GetProperty("amount").GetDecimal());
        }
        Assert.Equal([0m, 0.000001m, 0m, 0.000001m, 0m, 0.000001m, 0m, 0.000001m, 0m, 0.000001m], amounts);
        Assert.Equal(5m - 0.000005m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-INF-2")]
    public async Task The_carried_fraction_survives_a_reactivation_after_whole_micro_credit_queries_left_it_unchanged()
    {
        var (userId, _) = await api.NewUserAsync("carry");
        var orchestrator = await OrchestratorAsync();
        async Task<decimal> ChargeAsync(int inputTokens)
        {
            var response = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
                new { userId, model = "llama-3.1-8b-instruct", inputTokens, outputTokens = 0 }, $"carry-{Guid.NewGuid():N}"));
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            return (await Json(response)).GetProperty("amount").GetDecimal();
        }

        // 0.05 micro-credit per input token: 10 tokens = 0.5 µ (carried), 20 tokens = 1 µ (the carry stays 0.5, not written again).
        Assert.Equal(0m, await ChargeAsync(10));
        Assert.Equal(0.000001m, await ChargeAsync(20));
        Assert.Equal(0.000001m, await ChargeAsync(20));
        await api.Factory.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        // The wallet comes back from the tables with the 0.5 µ carried: this half completes a micro-credit.
        Assert.Equal(0.000001m, await ChargeAsync(10));
        Assert.Equal(1, await TestDatabase.ScalarAsync(api.Db,
            "SELECT count(*) FROM qubrid_inference_carry WHERE wallet_id = $1 AND carry_micros = 0", userId));
    }

    [Fact]
    [Trait("Rule", "R-INF-5")]
    public async Task A_charge_of_nothing_for_a_wallet_that_does_not_exist_is_404()
    {
        var orchestrator = await OrchestratorAsync();
        var response = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
            new { userId = $"nobody-{Guid.NewGuid():N}", model = "llama-3.1-8b-instruct", inputTokens = 1, outputTokens = 0 }, $"k-{Guid.NewGuid():N}"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("wallet_not_found", (await Json(response)).GetProperty("code").GetString());
    }

    [Fact]
    public async Task An_idle_wallet_activates_over_connections_a_database_restart_broke()
    {
        var (userId, user) = await api.NewUserAsync("broken-pool");
        var cluster = api.Factory.Services.GetRequiredService<IClusterClient>();
        await cluster.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
        // What a PostgreSQL restart does to the ledger's pooled connections: they are closed under it.
        Assert.True(await TestDatabase.ScalarAsync(api.Db,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            Qubrid.Silo.SiloHostingExtensions.LedgerApplicationName) > 0);

        var response = await user.GetAsync($"/v1/wallets/{userId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(5m, (await Json(response)).GetProperty("total").GetDecimal());

        // The ledger writer's own connections were closed too. A commit sent on one may have reached the server, so it
        // is answered 503 (the client retries with its key) and the writer reconnects: at most one per writer loop.
        var admin = api.Client(api.AdminKey);
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 4; i++) statuses.Add((await admin.PutAsync($"/v1/wallets/after-restart-{i}-{Guid.NewGuid():N}", null)).StatusCode);
        Assert.True(statuses.Count(s => s == HttpStatusCode.ServiceUnavailable) <= 2, string.Join(", ", statuses));
        Assert.Equal(HttpStatusCode.Created, statuses[^1]);
    }
}
