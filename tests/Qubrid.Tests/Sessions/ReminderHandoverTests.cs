using Microsoft.Extensions.DependencyInjection;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Sessions;

/// <summary>
/// A silo stopped gracefully (a rolling upgrade's SIGTERM) hands its part of the reminder ring to the others. Orleans' reminder
/// service does not catch up on a tick that falls due during the handover, so without <see cref="ReminderHandoverService"/> a
/// session whose reminder moves waits up to two intervals. With it, every session whose charge reminder moved is charged at
/// the handover, to the instant, while the sessions whose reminders stayed are not touched.
/// </summary>
public class ReminderHandoverTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Qubrid:Metering:ChargeInterval"] = "00:01:00",
        ["Qubrid:Metering:MinimumRunway"] = "00:10:00",
    };

    [Fact]
    public async Task Sessions_whose_charge_reminder_moves_at_a_graceful_stop_are_charged_at_once_and_exactly()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2, Settings, services => services.AddReminderHandover());
        var wallet = await cluster.NewWalletAsync("handover");
        var userId = wallet.GetPrimaryKeyString();
        await wallet.Credit(new CreditRequest("fund", LedgerEntryKind.Topup, Micros.FromUsd(1000m), "pay_handover"));
        var victim = cluster.Cluster.Silos[1];
        var owned = victim.ServiceProvider.GetRequiredService<ReminderHandoverCatchUp>().Owned
            ?? throw new InvalidOperationException("the handover service of the silo to stop has no part of the ring");

        // Sessions until at least two have their reminder on the silo that will stop and two on the one that stays, all of
        // them active on the silo that stays (each reminder's owner is a hash of the session's id on the ring, its activation
        // is placed by Orleans: arranged, not assumed). A session active on the stopping silo is charged by its own
        // deactivation; these are charged by nothing but the handover.
        var survivor = cluster.Cluster.Silos[0].SiloAddress;
        var management = cluster.Grains.GetGrain<IManagementGrain>(0);
        var moving = new List<ISessionGrain>();
        var staying = new List<ISessionGrain>();
        for (int i = 0; i < 400 && (moving.Count < 2 || staying.Count < 2); i++)
        {
            var session = cluster.Grains.GetGrain<ISessionGrain>($"handover-{i}-{Guid.NewGuid():N}");
            var started = await session.Start(new StartSessionRequest(userId, "A100"));
            Assert.True(started.Succeeded, started.Detail);
            if (!survivor.Equals(await management.GetActivationAddress(session))) continue;
            (owned.InRange(session.GetGrainId()) ? moving : staying).Add(session);
        }
        Assert.True(moving.Count >= 2 && staying.Count >= 2, $"{moving.Count} sessions to move, {staying.Count} to stay");

        // Half an interval later (no reminder is due yet on the test clock), the silo stops gracefully.
        cluster.Clock.Advance(TimeSpan.FromSeconds(30));
        await cluster.Cluster.StopSiloAsync(victim);

        // The moved sessions' charges arrive without the clock moving: wait for them (bounded), then check each to the micro-credit.
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        foreach (var session in moving)
        {
            while ((await wallet.GetSession(session.GetPrimaryKeyString()))!.Charged == Micros.Zero)
            {
                Assert.True(DateTimeOffset.UtcNow < deadline, "a session whose reminder moved was not charged at the handover (60 s)");
                await Task.Delay(50);
            }
        }
        foreach (var session in moving)
        {
            var view = (await wallet.GetSession(session.GetPrimaryKeyString()))!;
            Assert.Equal(Qubrid.Core.Metering.Owed(view.UsdPerHour, view.StartedAt, cluster.Clock.GetUtcNow()), view.Charged);
        }
        foreach (var session in staying)
            Assert.Equal(Micros.Zero, (await wallet.GetSession(session.GetPrimaryKeyString()))!.Charged);
        Assert.True((await Qubrid.Storage.Reconciler.RunAsync(cluster.Db)).IsClean);
    }
}
