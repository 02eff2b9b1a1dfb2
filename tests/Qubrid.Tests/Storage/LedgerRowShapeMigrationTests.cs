using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Qubrid.Core;
using Qubrid.Silo;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>
/// Issue 28: a database that the previous schema (migrations up to 0030) filled, taken through the expand migration
/// (0040), the previous rows written beside it, finalize-upgrade, lean rows, and the contract step. Reconcile passes
/// at every step; balances and idempotency answers stay the same; a key recorded in the previous shape is not charged again.
/// </summary>
public sealed class LedgerRowShapeMigrationTests
{
    private const int PreviousRelease = 30; // the highest migration of the release before issue 28 (0030_metering_shards.sql)

    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Qubrid:SignupBonus:Amount"] = "5",
        ["Qubrid:SignupBonus:ValidFor"] = "30.00:00:00",
        ["Qubrid:Ledger:ClusterVersionRefresh"] = "00:00:00", // the gate is read before every commit: finalize takes effect at once
    };

    private static readonly string[] Keys = ["top", "d1", "d2", "d3", "h1", "h1-capture", "inf-1"];

    [Fact]
    [Trait("Rule", "R-LEDGER-4")]
    public async Task A_database_filled_by_the_previous_schema_reconciles_and_answers_the_same_through_expand_finalize_and_contract()
    {
        var cs = await TestDatabase.CreateAsync("rowshape", migrate: false);
        await using var db = NpgsqlDataSource.Create(cs);
        await Migrator.ApplyAsync(db, PreviousRelease);
        // This build stands in for the previous release here, and it reads the lots' scope (migration 0051, re-runnable):
        // the column is added beside the old schema; scoped credits play no part in this test.
        await TestDatabase.ExecAsync(db, "ALTER TABLE qubrid_lots ADD COLUMN IF NOT EXISTS scope jsonb NULL");
        var wallets = new[] { $"old-a-{Guid.NewGuid():N}", $"old-b-{Guid.NewGuid():N}" };
        using (var host = await SiloHosts.StartAsync(cs, $"rowshape-{Guid.NewGuid():N}", Settings, migrate: false))
        {
            foreach (var id in wallets) await FillAsync(host.Services.GetRequiredService<IGrainFactory>().GetGrain<IWalletGrain>(id));
            await host.StopAsync();
        }
        Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'qubrid_cluster_version'"));
        Assert.True(await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger_lots l JOIN qubrid_ledger e USING (wallet_id, seq) WHERE e.kind = 'inference_charge'") > 0);
        await AssertCleanAsync(db);
        var before = await SnapshotAsync(db, wallets);
        Assert.Equal(WalletOpStatus.InsufficientCredits, before[wallets[0]].Outcomes["d3"].Status);
        Assert.Equal(2, before[wallets[0]].Movements["d2"].Length); // spans the bonus and the top-up

        await Migrator.ApplyAsync(db);
        Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT version FROM qubrid_cluster_version"));
        await AssertCleanAsync(db);
        Assert.Equal(before, await SnapshotAsync(db, wallets));

        using (var host = await SiloHosts.StartAsync(cs, $"rowshape-{Guid.NewGuid():N}", Settings))
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            var wallet = grains.GetGrain<IWalletGrain>(wallets[0]);
            var beside = await wallet.Debit(new DebitRequest("beside", LedgerEntryKind.InferenceCharge, Micros.FromUsd(0.1m), "model-x"));
            Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger WHERE lot_id IS NOT NULL OR fingerprint IS NOT NULL"));
            Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_idempotency WHERE wallet_id = $1 AND seq = $2", wallets[0], beside.Seq!.Value));

            var output = new StringWriter();
            Assert.Equal(0, await FinalizeUpgradeCommand.RunAsync(Config(cs), output));
            Assert.Contains("cluster version 1 -> 2", output.ToString());

            var lean = await wallet.Debit(new DebitRequest("lean", LedgerEntryKind.InferenceCharge, Micros.FromUsd(0.1m), "model-x"));
            Assert.Equal(1, await TestDatabase.ScalarAsync(db,
                "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND seq = $2 AND lot_id IS NOT NULL AND fingerprint IS NOT NULL", wallets[0], lean.Seq!.Value));
            Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger_lots WHERE wallet_id = $1 AND seq = $2", wallets[0], lean.Seq.Value));
            Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_idempotency WHERE wallet_id = $1 AND seq = $2", wallets[0], lean.Seq.Value));

            // A key the previous shape recorded, retried on a lean silo that does not remember it: replayed, not charged again.
            var balance = (await wallet.GetBalance())!.Total;
            var retried = await grains.GetGrain<IWalletGrain>(wallets[1]).Debit(D2);
            Assert.True(retried.Replayed);
            Assert.Equal(before[wallets[1]].Outcomes["d2"].Seq, retried.Seq);
            Assert.Equal(balance, (await wallet.GetBalance())!.Total);
            await host.StopAsync();
        }
        await AssertCleanAsync(db);
        var finalized = await SnapshotAsync(db, wallets);
        Assert.Equal(before[wallets[1]], finalized[wallets[1]]);

        await ClusterVersion.ContractAsync(db);
        await AssertCleanAsync(db);
        Assert.Equal(finalized, await SnapshotAsync(db, wallets));
        // What is left in the side tables is what only they can hold: movements across lots, and outcomes without an entry.
        Assert.Equal(0, await TestDatabase.ScalarAsync(db,
            "SELECT count(*) FROM (SELECT wallet_id, seq FROM qubrid_ledger_lots GROUP BY wallet_id, seq HAVING count(*) = 1) single"));
        Assert.Equal(0, await TestDatabase.ScalarAsync(db,
            """
            SELECT count(*) FROM qubrid_idempotency i JOIN qubrid_ledger e USING (wallet_id, seq)
            WHERE i.refusal_code IS NULL AND e.idempotency_key = i.idempotency_key AND i.amount = abs(e.amount) AND i.balance_after = e.balance_after
              AND i.lot_id IS NOT DISTINCT FROM (CASE WHEN e.amount > 0 THEN e.lot_id END)
            """));
        Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_idempotency WHERE idempotency_key IN ('top', 'd1', 'd2', 'inf-1')"));
    }

    [Fact]
    public async Task The_contract_step_refuses_to_run_before_the_upgrade_is_finalized()
    {
        var cs = await TestDatabase.CreateAsync("rowshape_gate", migrate: false);
        await using var db = NpgsqlDataSource.Create(cs);
        await Migrator.ApplyAsync(db, PreviousRelease);
        await TestDatabase.ExecAsync(db, "INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version) VALUES ('w', now(), 0, 1, 1)");
        await Migrator.ApplyAsync(db);
        Assert.Equal(1, await ClusterVersion.ReadAsync(db));

        var refused = await Assert.ThrowsAsync<PostgresException>(() => ClusterVersion.ContractAsync(db));
        Assert.Equal("QB003", refused.SqlState);

        Assert.Equal(1, (await ClusterVersion.FinalizeAsync(db)).Before);
        Assert.Equal(ClusterVersion.Current, await ClusterVersion.ReadAsync(db));
        Assert.Equal(ClusterVersion.Current, (await ClusterVersion.FinalizeAsync(db)).Before); // finalizing again changes nothing
        await ClusterVersion.ContractAsync(db);
    }

    [Fact]
    public async Task Finalizing_is_refused_while_a_silo_that_never_registered_this_release_is_alive()
    {
        var cs = await TestDatabase.CreateAsync("rowshape_silos", migrate: false);
        await using var db = NpgsqlDataSource.Create(cs);
        await Migrator.ApplyAsync(db, PreviousRelease);
        await TestDatabase.ExecAsync(db, "INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version) VALUES ('w', now(), 0, 1, 1)");
        await Migrator.ApplyAsync(db);
        // Two live silos in the membership table, as Orleans' ADO.NET clustering writes them; one dead long ago.
        await TestDatabase.ExecAsync(db, """
            INSERT INTO OrleansMembershipVersionTable (DeploymentId, Timestamp, Version) VALUES ('c1', now(), 3);
            INSERT INTO OrleansMembershipTable (DeploymentId, Address, Port, Generation, SiloName, HostName, Status, StartTime, IAmAliveTime)
            VALUES ('c1', '127.0.0.1', 11111, 7, 'old-silo', 'h', 3, now(), now()),
                   ('c1', '127.0.0.1', 11112, 8, 'new-silo', 'h', 3, now(), now()),
                   ('c1', '127.0.0.1', 11113, 2, 'dead-silo', 'h', 6, now(), now());
            """);
        await ClusterVersion.RegisterSiloAsync(db, "c1", "127.0.0.1", 11112, 5); // an earlier process on that port
        await ClusterVersion.RegisterSiloAsync(db, "c1", "127.0.0.1", 11112, 8);
        Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_silo_releases WHERE port = 11112"));

        var refused = await ClusterVersion.FinalizeAsync(db);
        Assert.False(refused.Finalized);
        Assert.Equal(["old-silo (127.0.0.1:11111, cluster c1)"], refused.PreviousReleaseSilos);
        Assert.Equal(1, await ClusterVersion.ReadAsync(db));

        // Rolled: the old silo is gone (ShuttingDown, then Dead); the upgrade can be finalized.
        await TestDatabase.ExecAsync(db, "UPDATE OrleansMembershipTable SET Status = 6 WHERE SiloName = 'old-silo'");
        var finalized = await ClusterVersion.FinalizeAsync(db);
        Assert.True(finalized.Finalized);
        Assert.Equal(ClusterVersion.Current, await ClusterVersion.ReadAsync(db));
    }

    [Fact]
    public async Task A_database_nothing_ran_against_starts_finalized()
    {
        await using var db = NpgsqlDataSource.Create(await TestDatabase.CreateAsync("rowshape_fresh"));

        Assert.Equal(ClusterVersion.Current, await ClusterVersion.ReadAsync(db));
        Assert.Equal(LedgerRowShape.Lean, ClusterVersion.ShapeOf(await ClusterVersion.ReadAsync(db)));
    }

    [Fact]
    [Trait("Rule", "R-IDEM-2")]
    public async Task A_key_recorded_in_one_shape_refuses_a_commit_that_would_record_it_in_the_other()
    {
        await using var db = NpgsqlDataSource.Create(await TestDatabase.CreateAsync("rowshape_keys"));
        await using var writer = new LedgerWriter(db, new LedgerOptions { Writers = 1, ClusterVersionRefresh = TimeSpan.Zero }, NullLogger.Instance);
        var now = DateTimeOffset.UtcNow;
        var book = WalletBook.New($"keys-{Guid.NewGuid():N}");
        book.Credit(new CreditRequest("fund", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay"), LotKind.Purchased, now);
        book.Version = await writer.CommitAsync(new WalletCommit(book, book.TakeChanges(), [], now));

        book = await DebitAsync(writer, book, "lean-key", now); // finalized (a fresh database): recorded in its entry
        Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger WHERE idempotency_key = 'lean-key' AND fingerprint IS NOT NULL"));
        // A writer that still sees version 1 (the lean writer's view is final once lean, so this one starts after the change).
        await TestDatabase.ExecAsync(db, "UPDATE qubrid_cluster_version SET version = 1");
        await using var stale = new LedgerWriter(db, new LedgerOptions { Writers = 1, ClusterVersionRefresh = TimeSpan.Zero }, NullLogger.Instance);
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => DebitAsync(stale, book, "lean-key", now));

        book = await DebitAsync(stale, book, "previous-key", now); // recorded in qubrid_idempotency
        Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_idempotency WHERE idempotency_key = 'previous-key'"));
        Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger WHERE idempotency_key = 'previous-key' AND (fingerprint IS NOT NULL OR lot_id IS NOT NULL)"));
        await TestDatabase.ExecAsync(db, "UPDATE qubrid_cluster_version SET version = 2");
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => DebitAsync(writer, book, "previous-key", now));

        Assert.Equal(3, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", book.WalletId));
        await AssertCleanAsync(db);
    }

    /// <summary>A 1 USD debit under <paramref name="key"/> decided on a copy of <paramref name="book"/> and committed; the book after it.</summary>
    private static async Task<WalletBook> DebitAsync(LedgerWriter writer, WalletBook book, string key, DateTimeOffset now)
    {
        var work = book.Clone();
        var request = new DebitRequest(key, LedgerEntryKind.InferenceCharge, Micros.FromUsd(1m), "model-x");
        var entry = work.Debit(request, now).Entry!;
        var record = new StoredOutcome(key, RequestRules.Fingerprint(request), entry.Seq, Micros.FromUsd(1m), entry.BalanceAfter, null);
        work.Version = await writer.CommitAsync(new WalletCommit(work, work.TakeChanges(), [record], now));
        return work;
    }

    private static readonly DebitRequest D2 = new("d2", LedgerEntryKind.InferenceCharge, Micros.FromUsd(5m), "model-y", new UsageTags(Model: "model-y"));

    /// <summary>Grants, a top-up, single- and multi-lot debits, a recorded refusal, a hold and its capture, an inference charge.</summary>
    private static async Task FillAsync(IWalletGrain wallet)
    {
        await wallet.Create(); // the sign-up bonus: a promotional lot of 5 USD
        Assert.True((await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Micros.FromUsd(3m), "pay"))).Succeeded);
        Assert.True((await wallet.Debit(new DebitRequest("d1", LedgerEntryKind.InferenceCharge, Micros.FromUsd(1m), "model-x", new UsageTags(Model: "model-x")))).Succeeded);
        Assert.True((await wallet.Debit(D2)).Succeeded);
        var refused = await wallet.Debit(new DebitRequest("d3", LedgerEntryKind.InferenceCharge, Micros.FromUsd(100m), "model-x"));
        Assert.Equal(WalletOpStatus.InsufficientCredits, refused.Status);
        var hold = await wallet.CreateHold(new HoldRequest("h1", Micros.FromUsd(0.5m), DateTimeOffset.UtcNow.AddHours(1), "job"));
        Assert.True((await wallet.SettleHold(new HoldSettleRequest("h1-capture", hold.Hold!.HoldId == HoldIds.Format(wallet.GetPrimaryKeyString(), 1) ? 1 : -1, Micros.FromUsd(0.2m), false))).Result.Succeeded);
        Assert.True((await wallet.ChargeInference(new InferenceChargeRequest("inf-1", "deepseek-r1", 1000, 1000))).Succeeded);
        Assert.True((await wallet.Debit(D2)).Replayed);
    }

    private static async Task AssertCleanAsync(NpgsqlDataSource db)
    {
        var report = await Reconciler.RunAsync(db);
        Assert.True(report.IsClean, string.Join("\n", report.Violations));
        Assert.Equal(0, await ReconcileCommand.RunAsync(Config(db.ConnectionString), TextWriter.Null));
    }

    private static IConfiguration Config(string cs) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Qubrid"] = cs }).Build();

    /// <summary>What the wallet's store says: balance, open lots, the answer under each key and each keyed entry's lot movements.</summary>
    private static async Task<Dictionary<string, WalletSnapshot>> SnapshotAsync(NpgsqlDataSource db, string[] wallets)
    {
        await using var store = new LedgerStore(db, Options.Create(new LedgerOptions { ClusterVersionRefresh = TimeSpan.Zero }), NullLogger<LedgerStore>.Instance);
        var snapshots = new Dictionary<string, WalletSnapshot>();
        foreach (var id in wallets)
        {
            var book = (await store.LoadAsync(id, DateTimeOffset.UtcNow))!;
            var outcomes = await store.FindOutcomesAsync(id, Keys);
            var page = await store.ReadLedgerAsync(id, new LedgerQuery(Limit: 500));
            var movements = page.Items.Where(e => e.IdempotencyKey is { } k && Keys.Contains(k))
                .ToDictionary(e => e.IdempotencyKey!, e => e.Lots.Select(m => $"{m.LotId}:{m.Amount.Value}").ToArray());
            snapshots[id] = new WalletSnapshot(book.Balance, string.Join(",", book.OpenLots.Select(l => $"{l.Id}:{l.Remaining.Value}")),
                outcomes, movements);
        }
        return snapshots;
    }

    private sealed record WalletSnapshot(Micros Balance, string OpenLots, Dictionary<string, StoredOutcome> Outcomes, Dictionary<string, string[]> Movements)
    {
        public bool Equals(WalletSnapshot? other) =>
            other is not null && Balance == other.Balance && OpenLots == other.OpenLots
            && Outcomes.Count == other.Outcomes.Count && Outcomes.All(o => other.Outcomes.TryGetValue(o.Key, out var x) && x == o.Value)
            && Movements.Count == other.Movements.Count && Movements.All(m => other.Movements.TryGetValue(m.Key, out var x) && x.SequenceEqual(m.Value));

        public override int GetHashCode() => Balance.GetHashCode();

        public override string ToString() =>
            $"{Balance.Value} [{OpenLots}] {string.Join(" ", Outcomes.OrderBy(o => o.Key).Select(o => o.Value))} " +
            string.Join(" ", Movements.OrderBy(m => m.Key).Select(m => $"{m.Key}=[{string.Join(",", m.Value)}]"));
    }
}
