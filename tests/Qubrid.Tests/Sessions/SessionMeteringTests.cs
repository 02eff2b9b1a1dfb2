using Microsoft.Extensions.DependencyInjection;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Sessions;

/// <summary>
/// Session grains metering wallets, on real PostgreSQL, in both metering modes where a behaviour applies to both: a reminder
/// per session (<see cref="MeteringMode.SessionReminders"/>) and metering shards (<see cref="MeteringMode.Shards"/>). Billing
/// time and the reminders run on the cluster's one fake clock: most tests move it and deliver the charge themselves
/// (<see cref="ISessionGrain.Tick"/>, a shard's pass, or the reminder entry point); the test of a silo's death moves it one
/// interval at a time and waits for the reminder's own tick, since the point there is that another silo's reminder takes over.
/// </summary>
public class SessionMeteringTests
{
    private static readonly Dictionary<string, string?> TestDrivenMetering = new()
    {
        ["Qubrid:Metering:ChargeInterval"] = "01:00:00",
        ["Qubrid:Metering:MinimumRunway"] = "00:10:00",
        ["Qubrid:Metering:LowBalanceRunway"] = "00:30:00",
    };

    /// <summary>The charge interval when a test waits for the reminders' own ticks.</summary>
    private static readonly TimeSpan ReminderInterval = TimeSpan.FromMinutes(1);

    private static readonly Dictionary<string, string?> ReminderDrivenMetering = new(TestDrivenMetering)
    {
        ["Qubrid:Metering:ChargeInterval"] = "00:01:00",
    };

    /// <summary>The settings of a metering mode on top of <paramref name="basis"/>.</summary>
    internal static Dictionary<string, string?> In(MeteringMode mode, Dictionary<string, string?> basis) => new(basis)
    {
        ["Qubrid:Metering:Mode"] = mode.ToString(),
        ["Qubrid:Metering:Shards"] = "8",
    };

    /// <summary>The shard that meters this wallet's sessions in Shards mode (the settings above: 8 shards).</summary>
    internal static IMeteringShardGrain ShardOf(BillingCluster cluster, string userId) =>
        cluster.Grains.GetGrain<IMeteringShardGrain>(MeteringShards.ShardOf(userId, 8));

    /// <summary>One charge of the session as its mode makes it: its own tick, or a pass of its wallet's shard.</summary>
    private static async Task ChargeAsync(BillingCluster cluster, MeteringMode mode, ISessionGrain session, string userId)
    {
        if (mode == MeteringMode.Shards) await ShardOf(cluster, userId).ChargeNow();
        else await session.Tick();
    }

    /// <summary>What fires the charge reminder of this session: the session itself, or its wallet's shard.</summary>
    private static IAddressable MeterOf(BillingCluster cluster, MeteringMode mode, ISessionGrain session, string userId) =>
        mode == MeteringMode.Shards ? ShardOf(cluster, userId) : session;

    private static Micros Usd(decimal usd) => Micros.FromUsd(usd);

    private static async Task<Micros> SessionLedgerTotal(BillingCluster cluster, string walletId, string sessionId) =>
        new(-await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT coalesce(sum(amount), 0) FROM qubrid_ledger WHERE wallet_id = $1 AND session_id = $2 AND kind = 'session_charge'", walletId, sessionId));

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-4")]
    public async Task A_session_keeps_being_charged_after_the_silo_of_its_reminder_is_killed_and_totals_exactly_the_formula(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 3, In(mode, ReminderDrivenMetering));
        var wallet = await cluster.NewWalletAsync("failover");
        var userId = wallet.GetPrimaryKeyString();
        var session = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
        var sessionId = session.GetPrimaryKeyString();
        async Task<Micros> Charged() => (await wallet.GetSession(sessionId))!.Charged;
        var meter = MeterOf(cluster, mode, session, userId); // the grain whose reminder charges the session
        using var ticks = ReminderTicks.Of(meter);
        // A shard first ticks at its own phase of the interval: start the session on that phase, so that in both modes the
        // first tick is one interval after the start.
        if (mode == MeteringMode.Shards)
            cluster.Clock.Advance(MeteringShardGrain.DueAtPhase(ReminderInterval, MeteringShards.ShardOf(userId, 8), 8, cluster.Clock.GetUtcNow()));
        var started = await session.Start(new StartSessionRequest(userId, "A100"));
        Assert.True(started.Succeeded, started.Detail);
        var startedAt = started.Session!.StartedAt;
        Assert.Equal(cluster.Clock.GetUtcNow(), startedAt);

        var tick = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, ReminderInterval, "the session's meter"));
        Assert.Equal((startedAt + ReminderInterval).UtcDateTime, tick.Status.CurrentTickTime);
        var host = await cluster.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(meter);
        var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(host));
        var chargedBeforeKill = await Charged();
        Assert.Equal(Usd(0.028166m), chargedBeforeKill); // 1 minute at 1.69 USD/h, rounded down

        await cluster.Cluster.KillSiloAsync(victim);
        ticks.Forget(victim.SiloAddress);
        await cluster.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Charging resumes from another silo's reminder, one interval later, without anyone calling the session.
        var resumed = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, ReminderInterval, "the session's meter after its silo died"));
        Assert.NotEqual(victim.SiloAddress, resumed.SiloAddress);
        Assert.Equal((startedAt + 2 * ReminderInterval).UtcDateTime, resumed.Status.CurrentTickTime);
        Assert.Equal(Usd(0.056333m), await Charged()); // 2 minutes

        var stopped = await session.Stop();
        Assert.True(stopped.Succeeded, stopped.Detail);
        var view = stopped.Session!;
        Assert.Equal(SessionState.Stopped, view.State);
        Assert.Equal(startedAt + 2 * ReminderInterval, view.StoppedAt);
        var expected = Qubrid.Core.Metering.Owed(1.69m, view.StartedAt, view.StoppedAt!.Value);
        Assert.Equal(Usd(0.056333m), expected);
        Assert.Equal(expected, view.Charged);
        Assert.Equal(expected, await SessionLedgerTotal(cluster, userId, view.SessionId));

        // Nothing after the stop: a repeated stop and late ticks change nothing.
        var again = await session.Stop();
        Assert.Equal(view, again.Session);
        await session.Tick();
        Assert.Equal(expected, await SessionLedgerTotal(cluster, userId, view.SessionId));
        Assert.Empty((await Reconciler.RunAsync(cluster.Db)).Violations);
    }

    /// <summary>
    /// The orchestrator's start times out while the wallet's commit of the open is held (a barrier in PostgreSQL): the start
    /// fails, the wallet then commits the session. Nobody starts it again; get sees it (asked behind the wallet's queue), a
    /// start with other parameters conflicts, the mode's reminder charges it, and the stop totals exactly the formula.
    /// </summary>
    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-6")]
    public async Task A_start_whose_caller_gave_up_before_the_wallet_committed_the_open_is_seen_charged_and_stopped_exactly(MeteringMode mode)
    {
        // Grain-to-grain calls give up after 3 s here, so the session's call to the wallet times out while the open is held.
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering),
            services => services.Configure<Orleans.Configuration.SiloMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(3)));
        var wallet = await cluster.NewWalletAsync("gaveup");
        var userId = wallet.GetPrimaryKeyString();
        var sessionId = $"sess-{Guid.NewGuid():N}";
        var session = cluster.Grains.GetGrain<ISessionGrain>(sessionId);
        await using (var barrier = await InsertBarrier.HoldAsync(cluster.Db, "test_hold_open", "qubrid_wallet_sessions", $"NEW.session_id = '{sessionId}'", 719_019))
        {
            await Assert.ThrowsAnyAsync<TimeoutException>(() => session.Start(new StartSessionRequest(userId, "A100")));
            Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_wallet_sessions WHERE session_id = $1", sessionId));
            // Get is asked while the open is still held: it must wait behind it, not answer 404.
            var getting = session.Get();
            await barrier.ReleaseAsync();
            var seen = await getting;
            Assert.NotNull(seen);
            Assert.Equal(SessionState.Running, seen.State);
        }
        var opened = (await wallet.GetSession(sessionId))!;
        Assert.Equal(SessionState.Running, opened.State);
        Assert.Equal(ErrorCodes.SessionConflict, (await session.Start(new StartSessionRequest(userId, "H100"))).ErrorCode);

        cluster.Clock.Advance(TimeSpan.FromMinutes(10));
        await cluster.FireRemindersAsync(MeterOf(cluster, mode, session, userId));
        Assert.Equal(Usd(0.281666m), (await wallet.GetSession(sessionId))!.Charged); // 10 minutes at 1.69 USD/h, rounded down
        var stopped = await session.Stop();
        Assert.True(stopped.Succeeded, stopped.Detail);
        Assert.Equal(opened.StartedAt, stopped.Session!.StartedAt);
        Assert.Equal(Qubrid.Core.Metering.Owed(1.69m, opened.StartedAt, stopped.Session.StoppedAt!.Value), stopped.Session.Charged);
        Assert.Equal(stopped.Session.Charged, await SessionLedgerTotal(cluster, userId, sessionId));
        Assert.Empty((await Reconciler.RunAsync(cluster.Db)).Violations);
    }

    /// <summary>SessionReminders only: in Shards mode the state (the pointer) is written before the open, so this failure stops the start before it.</summary>
    [Fact]
    public async Task A_session_whose_state_write_failed_after_the_wallet_opened_it_is_still_metered_and_a_different_start_under_its_id_conflicts()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, TestDrivenMetering);
        var wallet = await cluster.NewWalletAsync("orphan");
        var userId = wallet.GetPrimaryKeyString();
        var sessionId = $"sess-{Guid.NewGuid():N}";
        // The session's state cannot be stored, as if its silo died right after the wallet opened the session.
        await TestDatabase.ExecAsync(cluster.Db, """
            CREATE TABLE test_failing_grains (key text PRIMARY KEY);
            CREATE FUNCTION test_fail_grain_write() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM test_failing_grains WHERE key = NEW.grainidextensionstring) THEN
                    RAISE EXCEPTION 'test: no state may be stored for %', NEW.grainidextensionstring;
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_fail_grain_write BEFORE INSERT OR UPDATE ON orleansstorage FOR EACH ROW EXECUTE FUNCTION test_fail_grain_write();
            """);
        await TestDatabase.ExecAsync(cluster.Db, "INSERT INTO test_failing_grains VALUES ($1)", sessionId);
        var session = cluster.Grains.GetGrain<ISessionGrain>(sessionId);

        await Assert.ThrowsAnyAsync<Exception>(() => session.Start(new StartSessionRequest(userId, "A100")));
        var opened = (await wallet.GetSession(sessionId))!;
        Assert.Equal(SessionState.Running, opened.State);
        await TestDatabase.ExecAsync(cluster.Db, "DELETE FROM test_failing_grains");

        // A start under the same id with other parameters is compared with what the wallet opened, and removes nothing.
        var other = await session.Start(new StartSessionRequest(userId, "H100"));
        Assert.Equal(ErrorCodes.SessionConflict, other.ErrorCode);

        // Nobody starts the session properly again (the orchestrator gave up): its reminder keeps it metered.
        cluster.Clock.Advance(TimeSpan.FromMinutes(10));
        await cluster.FireRemindersAsync(session);
        var charged = (await wallet.GetSession(sessionId))!;
        Assert.Equal(Usd(0.281666m), charged.Charged); // 10 minutes at 1.69 USD/h, rounded down
        Assert.Equal(opened.StartedAt, (await session.Get())!.StartedAt);
        var stopped = await session.Stop();
        Assert.True(stopped.Succeeded, stopped.Detail);
        Assert.Equal(Qubrid.Core.Metering.Owed(1.69m, opened.StartedAt, stopped.Session!.StoppedAt!.Value), stopped.Session.Charged);
        Assert.Equal(stopped.Session.Charged, await SessionLedgerTotal(cluster, userId, sessionId));
    }

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-7")]
    public async Task Running_out_of_credits_takes_the_rest_terminates_the_session_and_records_a_readable_event(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering));
        var wallet = await cluster.NewWalletAsync("drain"); // 5 USD bonus
        var userId = wallet.GetPrimaryKeyString();
        var session = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
        Assert.True((await session.Start(new StartSessionRequest(userId, "H100"))).Succeeded); // 10 min at 21.84/h = 3.64 USD ≤ 5

        cluster.Clock.Advance(TimeSpan.FromHours(1)); // the next tick owes 21.84 USD
        await ChargeAsync(cluster, mode, session, userId);
        var view = await session.Get();

        Assert.Equal(SessionState.Terminated, view!.State);
        Assert.Equal(EndReasons.InsufficientCredits, view.EndReason);
        Assert.Equal(Usd(5m), view.Charged);
        Assert.Equal(Micros.Zero, (await wallet.GetBalance())!.Total);
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT balance FROM qubrid_wallets WHERE wallet_id = $1", userId));
        var events = await cluster.Grains.GetGrain<IEventFeedGrain>(0).Read(0, 100);
        var terminated = Assert.Single(events, e => e.Kind == EventKinds.SessionTerminated);
        Assert.Equal((userId, session.GetPrimaryKeyString(), EndReasons.InsufficientCredits), (terminated.UserId, terminated.SessionId, terminated.Reason));
        Assert.Empty(await cluster.Grains.GetGrain<IEventFeedGrain>(0).Read(events[^1].Id, 100));
        Assert.Empty((await Reconciler.RunAsync(cluster.Db)).Violations);
    }

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-9")]
    public async Task Low_balance_event_fires_once_per_crossing(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering));
        var wallet = await cluster.NewWalletAsync("low"); // 5 USD
        var userId = wallet.GetPrimaryKeyString();
        var session = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
        Assert.True((await session.Start(new StartSessionRequest(userId, "A100"))).Succeeded); // 1.69/h: runway ~2.96 h
        var feed = cluster.Grains.GetGrain<IEventFeedGrain>(0);
        async Task<int> LowEvents() => (await feed.Read(0, 1000)).Count(e => e.Kind == EventKinds.LowBalance && e.UserId == userId);

        cluster.Clock.Advance(TimeSpan.FromHours(2.5)); // owes 4.225: 0.775 left, runway ~27.5 min < 30
        await ChargeAsync(cluster, mode, session, userId);
        Assert.Equal(1, await LowEvents());
        for (int i = 0; i < 3; i++) // more ticks while low
        {
            cluster.Clock.Advance(TimeSpan.FromMinutes(1));
            var before = (await wallet.GetSession(session.GetPrimaryKeyString()))!.Charged;
            await ChargeAsync(cluster, mode, session, userId);
            Assert.True((await wallet.GetSession(session.GetPrimaryKeyString()))!.Charged > before);
        }
        Assert.Equal(1, await LowEvents());

        await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Usd(10m), "pay")); // runway back above 30 min
        await ChargeAsync(cluster, mode, session, userId);
        Assert.Equal(1, await LowEvents());
        cluster.Clock.Advance(TimeSpan.FromHours(6)); // spends 10.14 of 10.6x: low again
        await ChargeAsync(cluster, mode, session, userId);
        Assert.Equal(2, await LowEvents());
        await session.Stop();
    }

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-2")]
    public async Task A_start_without_the_minimum_runway_is_refused_and_writes_nothing(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering));
        await cluster.Grains.GetGrain<IRateCardGrain>(0).SetRate("B200", 100m); // 10 min = 16.67 USD > 5
        var wallet = await cluster.NewWalletAsync("poor");
        var userId = wallet.GetPrimaryKeyString();
        var session = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");

        var refused = await session.Start(new StartSessionRequest(userId, "B200"));

        Assert.Equal(WalletOpStatus.InsufficientCredits, refused.Status);
        Assert.Equal(ErrorCodes.InsufficientCredits, refused.ErrorCode);
        Assert.Null(await session.Get());
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_wallet_sessions WHERE wallet_id = $1", userId));
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM orleansstorage WHERE grainidextensionstring = $1 OR graintypestring LIKE '%session%'", session.GetPrimaryKeyString()));
        Assert.Equal(1, await cluster.LedgerRowsAsync(userId));
    }

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-ADMIN-3")]
    [Trait("Rule", "R-SESS-1")]
    public async Task A_rate_change_applies_to_sessions_started_after_it_only(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering));
        var rates = cluster.Grains.GetGrain<IRateCardGrain>(0);
        var wallet = await cluster.NewWalletAsync("rates");
        var userId = wallet.GetPrimaryKeyString();
        var before = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
        Assert.Equal(0.68m, (await before.Start(new StartSessionRequest(userId, "T4"))).Session!.UsdPerHour);

        Assert.True((await rates.SetRate("T4", 0.75m)).Succeeded);
        var after = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
        Assert.Equal(0.75m, (await after.Start(new StartSessionRequest(userId, "T4"))).Session!.UsdPerHour);

        Assert.Equal(0.68m, (await before.Get())!.UsdPerHour);
        Assert.Equal(0.68m, (await before.Stop()).Session!.UsdPerHour);
        Assert.Equal(0.75m, (await rates.GetRate("T4"))!.UsdPerHour);
        await after.Stop();
    }

    [Theory]
    [InlineData(MeteringMode.SessionReminders)]
    [InlineData(MeteringMode.Shards)]
    [Trait("Rule", "R-SESS-3")]
    public async Task Starting_twice_is_harmless_and_a_different_start_under_the_same_id_conflicts(MeteringMode mode)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, In(mode, TestDrivenMetering));
        var wallet = await cluster.NewWalletAsync("twice");
        var other = await cluster.NewWalletAsync("other");
        var userId = wallet.GetPrimaryKeyString();
        var session = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");

        var first = await session.Start(new StartSessionRequest(userId, "L4", Workloads.Notebook));
        var again = await session.Start(new StartSessionRequest(userId, "L4", Workloads.Notebook));
        Assert.Equal(first.Session!.StartedAt, again.Session!.StartedAt);
        Assert.Equal(ErrorCodes.SessionConflict, (await session.Start(new StartSessionRequest(userId, "H100"))).ErrorCode);
        Assert.Equal(ErrorCodes.SessionConflict, (await session.Start(new StartSessionRequest(other.GetPrimaryKeyString(), "L4", Workloads.Notebook))).ErrorCode);
        Assert.Equal(ErrorCodes.UnknownInstanceType, (await cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}").Start(new StartSessionRequest(userId, "Z9000"))).ErrorCode);

        var balance = await wallet.GetBalance();
        var running = Assert.Single(balance!.RunningSessions);
        Assert.Equal((session.GetPrimaryKeyString(), "L4", 1.05m, Workloads.Notebook), (running.SessionId, running.InstanceType, running.UsdPerHour, running.Workload));
        Assert.Equal(1.05m, balance.BurnRatePerHour);
        Assert.NotNull(balance.RunwaySeconds);
        await session.Stop();
        Assert.Empty((await wallet.GetBalance())!.RunningSessions);
    }
}
