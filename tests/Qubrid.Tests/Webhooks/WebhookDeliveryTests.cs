using System.Globalization;
using Orleans.Runtime;
using Qubrid.Payments;
using Qubrid.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Qubrid.Tests.Webhooks;

/// <summary>
/// Webhook delivery end to end on real silos and PostgreSQL, to a real HTTP receiver: signed, in event order, at least
/// once through a receiver outage and through the death of the silo that was delivering; disabled after the give-up
/// time with a webhook_disabled event to the admin, and resumed by enable from the first undelivered event.
/// The events are real: declined top-ups write topup_failed in the payment's transaction.
/// </summary>
public class WebhookDeliveryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A schedule shrunk for tests: retries from 100 ms doubling to 400 ms; give up after an hour unless a test says otherwise.</summary>
    internal static Dictionary<string, string?> FastWebhooks(string giveUpAfter = "01:00:00") => new()
    {
        ["Qubrid:Webhooks:AllowedHosts:0"] = "127.0.0.1",
        ["Qubrid:Webhooks:PollInterval"] = "00:00:00.050",
        ["Qubrid:Webhooks:KeepAlivePeriod"] = "00:00:01",
        ["Qubrid:Webhooks:RetryInitialDelay"] = "00:00:00.100",
        ["Qubrid:Webhooks:RetryMaxDelay"] = "00:00:00.400",
        ["Qubrid:Webhooks:GiveUpAfter"] = giveUpAfter,
        ["Qubrid:Webhooks:RequestTimeout"] = "00:00:02",
        ["Qubrid:Webhooks:ConnectTimeout"] = "00:00:01",
    };

    [Fact]
    [Trait("Rule", "R-HOOK-3")]
    [Trait("Rule", "R-HOOK-5")]
    public async Task A_receiver_down_for_a_while_then_back_gets_every_event_at_least_once_in_order_each_signed()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2, FastWebhooks());
        await using var receiver = await WebhookReceiver.StartAsync();
        var userId = (await cluster.NewWalletAsync("hook")).GetPrimaryKeyString();
        var endpoint = await CreateAsync(cluster, receiver, userId);
        using var recorded = BillingSignals<BillingDiagnostics.WebhookAttemptRecorded>.Where(r => r.EndpointId == endpoint.Id);

        await DeclineTopupsAsync(cluster, userId, "a", 20);
        await receiver.UntilAsync(r => Distinct(r).Count >= 20, Patience, "the first 20 events");

        receiver.Behaviour = WebhookReceiver.Mode.Down; // connections dropped
        await DeclineTopupsAsync(cluster, userId, "b", 10);
        await receiver.UntilAsync(_ => receiver.Refused >= 3, Patience, "three dropped attempts");
        receiver.Behaviour = WebhookReceiver.Mode.Failing; // answers 503
        await DeclineTopupsAsync(cluster, userId, "c", 10);
        await receiver.UntilAsync(_ => receiver.Refused >= 6, Patience, "three refused attempts");
        receiver.Behaviour = WebhookReceiver.Mode.Healthy;

        var expected = await EventIdsAsync(cluster, userId);
        Assert.Equal(40, expected.Count);
        var received = await receiver.UntilAsync(r => Distinct(r).Count >= 40, Patience, "all 40 events");
        Assert.Equal(expected, Distinct(received));
        Assert.All(received, r => Assert.True(r.SignatureValid, $"event {r.EventId}: bad signature"));
        Assert.All(received, r => Assert.Equal(EventKinds.TopupFailed, r.Type));
        var first = received[0].Data;
        Assert.Equal(userId, first.GetProperty("userId").GetString());
        Assert.StartsWith("pay_", first.GetProperty("paymentId").GetString());
        Assert.Equal(10m, first.GetProperty("amount").GetDecimal());
        Assert.Equal("Your card was declined.", first.GetProperty("reason").GetString());

        // A delivery is recorded just after the receiver answered it: wait for the delivery loop's record of each success.
        await recorded.UntilAsync(r => expected.All(id => r.Any(a => a.EventId == id && a.Succeeded)), Patience, "the 40 deliveries' records");
        var log = await cluster.Grains.GetGrain<IWebhookEndpointGrain>(endpoint.Id).ListDeliveries(null, 100);
        Assert.NotNull(log);
        Assert.Equal(expected, log.Items.Select(d => d.EventId).Order());
        Assert.All(log.Items, d => Assert.Equal("succeeded", d.Status));
        Assert.Contains(log.Items, d => d.Attempts > 1);
        output.WriteLine($"40 events, {received.Count} requests received ({received.Count - 40} repeats), {receiver.Refused} refused attempts");
    }

    [Fact]
    [Trait("Rule", "R-HOOK-3")]
    public async Task Killing_the_silo_that_was_delivering_loses_nothing_delivery_resumes_from_the_durable_cursor()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 3, FastWebhooks(), realTimeReminders: true); // the keep-alive reminder moves the endpoint
        await using var receiver = await WebhookReceiver.StartAsync();
        var userId = (await cluster.NewWalletAsync("hookkill")).GetPrimaryKeyString();
        var endpoint = await CreateAsync(cluster, receiver, userId);
        const int Total = 150;

        var kill = new SiloKill();
        var producing = DeclineTopupsAsync(cluster, userId, "k", Total, kill);
        await receiver.UntilAsync(r => Distinct(r).Count >= 30, Patience, "30 events before the kill");
        var grain = cluster.Grains.GetGrain<IWebhookEndpointGrain>(endpoint.Id);
        var host = await cluster.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        Assert.NotNull(host);
        var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(host));
        int beforeKill = Distinct(receiver.Snapshot()).Count;
        await kill.KillAsync(cluster.Cluster, victim);
        await producing;

        var expected = await EventIdsAsync(cluster, userId);
        Assert.Equal(Total, expected.Count);
        var received = await receiver.UntilAsync(r => Distinct(r).Count >= Total, Patience, $"all {Total} events after the kill");
        Assert.Equal(expected, Distinct(received));
        Assert.All(received, r => Assert.True(r.SignatureValid));
        var resumedOn = await cluster.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(grain);
        Assert.NotEqual(victim.SiloAddress, resumedOn);
        output.WriteLine($"silo kill: {Total} events, {beforeKill} delivered before the kill, {received.Count} requests received, " +
            $"{received.Count - Total} repeats, 0 missing; delivery moved from {victim.SiloAddress} to {resumedOn}; {kill.Retried} top-up calls retried once the cluster healed ({kill.HealingTime.TotalSeconds:0.0} s after the kill)");
    }

    [Fact]
    [Trait("Rule", "R-HOOK-4")]
    public async Task An_endpoint_failing_past_the_give_up_time_is_disabled_with_an_event_to_the_admin_and_enable_resumes_from_the_first_undelivered_event()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, FastWebhooks(giveUpAfter: "00:00:01"));
        await using var adminReceiver = await WebhookReceiver.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        var userId = (await cluster.NewWalletAsync("hookoff")).GetPrimaryKeyString();
        var admin = await cluster.Grains.GetGrain<IWebhookRegistryGrain>(0).Create(
            new CreateWebhookRequest(adminReceiver.Url, [EventKinds.WebhookDisabled], null));
        adminReceiver.Secret = admin.Secret!;
        var endpoint = await CreateAsync(cluster, receiver, userId);
        receiver.Behaviour = WebhookReceiver.Mode.Failing;

        await DeclineTopupsAsync(cluster, userId, "a", 3);
        var notice = await adminReceiver.UntilAsync(r => r.Count >= 1, Patience, "the webhook_disabled event");
        Assert.Equal(EventKinds.WebhookDisabled, notice[0].Type);
        Assert.Equal(endpoint.Id, notice[0].Data.GetProperty("endpointId").GetString());
        Assert.Equal(userId, notice[0].Data.GetProperty("userId").GetString());
        Assert.True(notice[0].SignatureValid);
        var grain = cluster.Grains.GetGrain<IWebhookEndpointGrain>(endpoint.Id);
        var disabled = await grain.Get();
        Assert.Equal(WebhookStates.Disabled, disabled!.State);
        Assert.NotNull(disabled.DisabledReason);

        receiver.Behaviour = WebhookReceiver.Mode.Healthy;
        await DeclineTopupsAsync(cluster, userId, "b", 2);
        Assert.Empty(receiver.Snapshot()); // nothing is sent to a disabled endpoint...
        var enabled = await grain.Enable();
        Assert.Equal(WebhookStates.Enabled, enabled!.State);
        var expected = await EventIdsAsync(cluster, userId);
        var received = await receiver.UntilAsync(r => Distinct(r).Count >= 5, Patience, "the 5 events after enable");
        Assert.Equal(expected, Distinct(received)); // ...and enable resumes from the first undelivered one
    }

    /// <summary>An endpoint for the user's topup_failed events pointing at the receiver (whose secret it sets).</summary>
    internal static async Task<WebhookEndpoint> CreateAsync(BillingCluster cluster, WebhookReceiver receiver, string userId)
    {
        var created = await cluster.Grains.GetGrain<IWebhookRegistryGrain>(0).Create(new CreateWebhookRequest(receiver.Url, [EventKinds.TopupFailed], userId));
        Assert.True(created.Endpoint is not null, created.Detail);
        receiver.Secret = created.Secret!;
        return created.Endpoint;
    }

    /// <summary>
    /// Declined top-ups, one after another. With <paramref name="kill"/> (a silo dies meanwhile), a call the kill fails is
    /// retried with its key once the cluster has healed.
    /// </summary>
    internal static async Task DeclineTopupsAsync(BillingCluster cluster, string userId, string prefix, int count, SiloKill? kill = null)
    {
        var topups = new TopupService(cluster.Db, new SandboxPaymentGateway(cluster.Db), cluster.Grains, TimeProvider.System);
        for (int i = 0; i < count; i++)
        {
            var key = $"{prefix}-{i}";
            Task<TopupOutcome> Decline() => topups.TopupAsync(userId, Micros.FromUsd(10m), SandboxPaymentGateway.Declined, key, CancellationToken.None);
            var outcome = kill is null ? await Decline() : await kill.RetryAcrossAsync(Decline, Patience);
            Assert.Equal(TopupOutcomeKind.Declined, outcome.Kind);
        }
    }

    internal static async Task<List<long>> EventIdsAsync(BillingCluster cluster, string userId)
    {
        var ids = new List<long>();
        await using var cmd = cluster.Db.CreateCommand("SELECT id FROM qubrid_events WHERE wallet_id = $1 AND kind = 'topup_failed' ORDER BY id");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = userId });
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) ids.Add(reader.GetInt64(0));
        return ids;
    }

    /// <summary>Event ids in the order they first arrived (repeats of at-least-once delivery dropped).</summary>
    internal static List<long> Distinct(IReadOnlyList<WebhookReceiver.Received> received)
    {
        var seen = new HashSet<long>();
        return received.Where(r => seen.Add(r.EventId)).Select(r => r.EventId).ToList();
    }
}
