using Npgsql;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Sessions;

/// <summary>
/// Metering shards (<see cref="MeteringMode.Shards"/>) on real PostgreSQL: a shard's pass charges every running session of
/// the wallets in its bucket, exactly; the bucket of a wallet is the database's own hash of it, for any shard count.
/// The behaviours both modes share are in <see cref="SessionMeteringTests"/>, run in each mode.
/// </summary>
public class ShardMeteringTests
{
    private static readonly Dictionary<string, string?> TestDrivenShards = SessionMeteringTests.In(MeteringMode.Shards, new()
    {
        ["Qubrid:Metering:ChargeInterval"] = "01:00:00",
        ["Qubrid:Metering:MinimumRunway"] = "00:10:00",
        ["Qubrid:Metering:LowBalanceRunway"] = "00:30:00",
    });

    private static async Task<Micros> LedgerTotal(BillingCluster cluster, string walletId, string sessionId) =>
        new(-await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT coalesce(sum(amount), 0) FROM qubrid_ledger WHERE wallet_id = $1 AND session_id = $2 AND kind = 'session_charge'", walletId, sessionId));

    [Fact]
    [Trait("Rule", "R-SESS-4")]
    [Trait("Rule", "R-SESS-6")]
    public async Task Each_shard_reminder_charges_every_running_session_of_its_wallets_the_formula_exactly_and_nothing_after_a_stop()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1, TestDrivenShards);
        (string Type, decimal Rate)[] types = [("T4", 0.68m), ("A100", 1.69m), ("H100", 21.84m)];
        var sessions = new List<(string UserId, ISessionGrain Grain, decimal Rate)>();
        for (int w = 0; w < 4; w++)
        {
            var wallet = await cluster.NewWalletAsync($"shards{w}");
            await wallet.Credit(new CreditRequest($"fund{w}", LedgerEntryKind.Topup, Micros.FromUsd(100m), "pay"));
            foreach (var (type, rate) in types)
            {
                var grain = cluster.Grains.GetGrain<ISessionGrain>($"sess-{Guid.NewGuid():N}");
                Assert.True((await grain.Start(new StartSessionRequest(wallet.GetPrimaryKeyString(), type))).Succeeded);
                sessions.Add((wallet.GetPrimaryKeyString(), grain, rate));
                cluster.Clock.Advance(TimeSpan.FromSeconds(7)); // every session starts at its own instant
            }
        }
        var shards = sessions.Select(s => SessionMeteringTests.ShardOf(cluster, s.UserId)).Distinct().ToList();
        var stoppedEarly = sessions[4];
        SessionView? stoppedView = null;

        for (int pass = 1; pass <= 3; pass++)
        {
            cluster.Clock.Advance(TimeSpan.FromMinutes(1));
            foreach (var shard in shards) await cluster.FireRemindersAsync(shard); // asserts each shard registered its reminder
            var now = cluster.Clock.GetUtcNow();
            foreach (var (userId, grain, rate) in sessions)
            {
                var recorded = (await cluster.Wallet(userId).GetSession(grain.GetPrimaryKeyString()))!;
                var expected = recorded.State == SessionState.Running
                    ? Qubrid.Core.Metering.Owed(rate, recorded.StartedAt, now)
                    : Qubrid.Core.Metering.Owed(rate, recorded.StartedAt, recorded.StoppedAt!.Value);
                Assert.Equal(expected, recorded.Charged);
                Assert.Equal(expected, await LedgerTotal(cluster, userId, recorded.SessionId));
            }
            if (pass == 1) stoppedView = (await stoppedEarly.Grain.Stop()).Session;
        }
        Assert.Equal(stoppedView, await stoppedEarly.Grain.Get()); // two passes after its stop charged nothing more

        foreach (var (userId, grain, rate) in sessions)
        {
            var stopped = (await grain.Stop()).Session!;
            Assert.Equal(SessionState.Stopped, stopped.State);
            Assert.Equal(Qubrid.Core.Metering.Owed(rate, stopped.StartedAt, stopped.StoppedAt!.Value), stopped.Charged);
            Assert.Equal(stopped.Charged, await LedgerTotal(cluster, userId, stopped.SessionId));
        }
        foreach (var shard in shards) Assert.Equal(0, (await shard.ChargeNow()).Wallets);
        Assert.Empty((await Reconciler.RunAsync(cluster.Db)).Violations);
    }

    [Theory]
    [InlineData(60, 64)]
    [InlineData(60, 7)]
    [InlineData(1, 8)]
    public void Shards_first_tick_at_their_own_phase_of_the_interval_so_their_passes_spread_over_it(int intervalSeconds, int shards)
    {
        var interval = TimeSpan.FromSeconds(intervalSeconds);
        var now = new DateTimeOffset(2026, 11, 30, 22, 0, 13, 250, TimeSpan.Zero);
        var firstTicks = Enumerable.Range(0, shards).Select(s => now + MeteringShardGrain.DueAtPhase(interval, s, shards, now)).ToList();
        Assert.All(firstTicks, t => Assert.InRange(t - now, TimeSpan.FromTicks(1), interval));
        // Each shard lands at its own offset into the interval (counted from the Unix epoch), shard/shards of the way.
        for (int s = 0; s < shards; s++)
            Assert.Equal(interval.Ticks / shards * s, (firstTicks[s] - DateTimeOffset.UnixEpoch).Ticks % interval.Ticks);
    }

    [Fact]
    public async Task Every_wallet_with_running_sessions_is_in_exactly_one_shard_for_any_count_and_its_hash_is_the_databases()
    {
        var cs = await TestDatabase.CreateAsync("shards");
        await using var db = NpgsqlDataSource.Create(cs);
        var ids = Enumerable.Range(0, 300).Select(i => $"user{i}.{i * 7919 % 1000}@example-{i % 13}").ToArray();
        await TestDatabase.ExecAsync(db, "INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version) SELECT id, now(), 0, 1, 1 FROM unnest($1::text[]) id", [ids]);
        // Two sessions for most wallets, a stopped one for every third: only wallets with a running session are metered.
        await TestDatabase.ExecAsync(db, """
            INSERT INTO qubrid_wallet_sessions (wallet_id, session_id, instance_type, workload, usd_per_hour, started_at, state, stopped_at, charged)
            SELECT id, 's' || n, 'T4', 'instance', 0.68, now(), CASE WHEN ord % 3 = 0 THEN 'stopped' ELSE 'running' END,
                   CASE WHEN ord % 3 = 0 THEN now() END, 0
            FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord), generate_series(1, 2) n
            """, [ids]);
        var running = ids.Where((_, i) => (i + 1) % 3 != 0).ToHashSet(StringComparer.Ordinal);

        await using (var cmd = db.CreateCommand("SELECT DISTINCT wallet_id, meter_shard FROM qubrid_wallet_sessions"))
        await using (var reader = await cmd.ExecuteReaderAsync())
        {
            int rows = 0;
            while (await reader.ReadAsync())
            {
                rows++;
                Assert.Equal(MeteringShards.HashOf(reader.GetString(0)), reader.GetInt32(1));
            }
            Assert.Equal(ids.Length, rows);
        }

        var store = new MeteringStore(db);
        foreach (var count in new[] { 1, 3, 8, 64, 1_000 })
        {
            var seen = new List<string>();
            for (int shard = 0; shard < count; shard++)
            {
                var wallets = await store.ListMeteredWalletsAsync(shard, count);
                Assert.All(wallets, w => Assert.Equal(shard, MeteringShards.ShardOf(w, count)));
                seen.AddRange(wallets);
            }
            Assert.Equal(running.Count, seen.Count); // none twice
            Assert.True(running.SetEquals(seen), $"with {count} shards some wallets were missed");
        }
    }
}
