using Microsoft.Extensions.Configuration;
using Qubrid.Silo;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

[Collection(ClusterCollection.Name)]
public class ReconcileTests(BillingCluster cluster)
{
    [Fact]
    [Trait("Rule", "R-LEDGER-4")]
    public async Task Reconcile_exits_1_and_names_the_wallet_whose_row_was_corrupted_in_sql()
    {
        var healthy = await cluster.NewWalletAsync("healthy");
        var victim = await cluster.NewWalletAsync("victim");
        await victim.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(3m), "pay"));
        var config = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Qubrid"] = cluster.ConnectionString }).Build();

        var clean = new StringWriter();
        Assert.Equal(0, await ReconcileCommand.RunAsync(config, clean));
        Assert.Contains("0 violations", clean.ToString());

        var id = victim.GetPrimaryKeyString();
        await TestDatabase.ExecAsync(cluster.Db, "UPDATE qubrid_lots SET remaining = remaining - 1 WHERE wallet_id = $1 AND kind = 'purchased'", id);
        try
        {
            var broken = new StringWriter();
            Assert.Equal(1, await ReconcileCommand.RunAsync(config, broken));
            Assert.Contains($"wallet={id}", broken.ToString());
            Assert.DoesNotContain($"wallet={healthy.GetPrimaryKeyString()}", broken.ToString());
        }
        finally
        {
            await TestDatabase.ExecAsync(cluster.Db, "UPDATE qubrid_lots SET remaining = remaining + 1 WHERE wallet_id = $1 AND kind = 'purchased'", id);
        }
    }

    [Fact]
    [Trait("Rule", "R-LEDGER-1")]
    public async Task The_ledger_and_its_lot_movements_refuse_update_and_delete()
    {
        var wallet = await cluster.NewWalletAsync("append-only");
        await wallet.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(3m), "pay"));
        // A debit across the sign-up bonus and the top-up: its movements go to qubrid_ledger_lots (a single-lot one stays in its entry).
        await wallet.Debit(new DebitRequest("d", LedgerEntryKind.InferenceCharge, Micros.FromUsd(BillingCluster.SignupBonusUsd + 1m), "model-x"));
        var id = wallet.GetPrimaryKeyString();
        long entries = await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", id);
        long movements = await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger_lots WHERE wallet_id = $1", id);
        Assert.True(entries > 0 && movements > 0);
        foreach (var sql in new[]
        {
            "UPDATE qubrid_ledger SET reference = 'changed' WHERE wallet_id = $1",
            "DELETE FROM qubrid_ledger WHERE wallet_id = $1",
            "UPDATE qubrid_ledger_lots SET amount = amount WHERE wallet_id = $1",
            "DELETE FROM qubrid_ledger_lots WHERE wallet_id = $1",
        })
        {
            await Assert.ThrowsAsync<Npgsql.PostgresException>(() => TestDatabase.ExecAsync(cluster.Db, sql, id));
        }
        Assert.Equal(entries, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND reference <> 'changed'", id));
        Assert.Equal(movements, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger_lots WHERE wallet_id = $1", id));
    }

    [Fact]
    public async Task Reconcile_names_a_wallet_that_has_ledger_entries_but_no_wallet_row()
    {
        // The ledger has no foreign key to the wallets (migration 0013): reconcile is what catches an orphaned entry.
        var orphan = $"orphan{Guid.NewGuid():N}"[..16];
        var config = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Qubrid"] = cluster.ConnectionString }).Build();
        await TestDatabase.ExecAsync(cluster.Db,
            "INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference) VALUES ($1, 1, now(), 'adjustment', 5, 5, 'orphan')", orphan);
        try
        {
            var broken = new StringWriter();
            Assert.Equal(1, await ReconcileCommand.RunAsync(config, broken));
            Assert.Contains($"wallet={orphan}", broken.ToString());
            Assert.Contains("no wallet row", broken.ToString());
        }
        finally
        {
            // The ledger is append-only by trigger; the replica role skips it for this one cleanup statement.
            await TestDatabase.ExecAsync(cluster.Db,
                $"DO $$ BEGIN SET LOCAL session_replication_role = replica; DELETE FROM qubrid_ledger WHERE wallet_id = '{orphan}'; END $$");
        }
    }
}
