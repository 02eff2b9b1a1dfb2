using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

/// <summary>
/// Graceful drain (a silo stopped as on SIGTERM, during a rolling upgrade): the wallet's batch in flight finishes before
/// its activation moves. Every debit a caller saw acknowledged is in the ledger once, every other caller got a retryable
/// error, and a retry with the same key on the remaining silo applies at most once.
/// </summary>
public class SiloDrainTests
{
    private const long BarrierLock = 719_031;

    [Fact]
    public async Task A_silo_stopped_while_a_wallet_batch_is_committing_answers_every_debit_and_loses_none()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2);
        var wallet = await cluster.NewWalletAsync("drain");
        var id = wallet.GetPrimaryKeyString();
        await wallet.Credit(new CreditRequest("fund", LedgerEntryKind.Topup, Micros.FromUsd(100m), "pay_drain"));
        var host = await cluster.Grains.GetGrain<IManagementGrain>(0).GetActivationAddress(wallet);
        var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(host));

        // The wallet's next commit waits inside PostgreSQL; more debits queue behind it in the wallet's engine.
        Task<WalletOpResult>[] debits;
        await using (var barrier = await InsertBarrier.HoldAsync(cluster.Db, "test_hold_drain", "qubrid_ledger",
                         $"NEW.wallet_id = '{id}' AND NEW.kind = 'inference_charge'", BarrierLock))
        {
            debits = Enumerable.Range(0, 40)
                .Select(i => wallet.Debit(new DebitRequest($"drain-{i}", LedgerEntryKind.InferenceCharge, Micros.FromUsd(0.25m), "m")))
                .ToArray();
            await WaitUntilAnInsertWaitsAsync(cluster, BarrierLock);

            // The silo starts its graceful stop while the batch is committing; then the commit is let through.
            var stopping = cluster.Cluster.StopSiloAsync(victim);
            await barrier.ReleaseAsync();
            await stopping;
        }

        int acknowledged = 0, retryable = 0;
        foreach (var debit in debits)
        {
            try
            {
                var result = await debit;
                Assert.True(result.Succeeded);
                acknowledged++;
            }
            catch (Exception e) when (e is StorageUnavailableException or OrleansException or TimeoutException)
            {
                retryable++;
            }
        }
        Assert.Equal(debits.Length, acknowledged + retryable);
        Assert.True(acknowledged > 0, "the batch in flight was cut off instead of finishing");

        // Every caller retries with its key on the silo that remains: each debit is in the ledger exactly once.
        for (int i = 0; i < debits.Length; i++)
        {
            var again = await wallet.Debit(new DebitRequest($"drain-{i}", LedgerEntryKind.InferenceCharge, Micros.FromUsd(0.25m), "m"));
            Assert.True(again.Succeeded);
        }
        Assert.Equal(debits.Length, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(DISTINCT idempotency_key) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'inference_charge'", id));
        Assert.Equal(debits.Length, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'inference_charge'", id));
        Assert.True((await Reconciler.RunAsync(cluster.Db)).IsClean);
    }

    /// <summary>Until an insert waits on the barrier's lock (a bounded poll of pg_locks: the database's own signal).</summary>
    private static async Task WaitUntilAnInsertWaitsAsync(BillingCluster cluster, long lockId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await TestDatabase.ScalarAsync(cluster.Db,
                   $"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = {lockId}") == 0)
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
