using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

/// <summary>
/// A debit whose commit meets a primary that has just been demoted (a failover): the caller gets a retryable failure
/// (the API answers it 503), the silo finds the writable server by itself, and the retry with the same idempotency key
/// applies exactly once. The processes are never restarted.
/// </summary>
public class FailoverTests
{
    private static Micros Usd(decimal usd) => Micros.FromUsd(usd);

    [Fact]
    public async Task A_debit_refused_by_a_demoted_primary_fails_retryably_and_its_retry_applies_once_after_the_failover()
    {
        // One writer loop, so that the retry meets the very loop whose connection saw the server read-only.
        await using var cluster = await BillingCluster.StartAsync(settings: new() { ["Qubrid:Ledger:Writers"] = "1" });
        var wallet = await cluster.NewWalletAsync("failover");
        var id = wallet.GetPrimaryKeyString();
        await wallet.Credit(new CreditRequest("top", LedgerEntryKind.Topup, Usd(20m), "pay_1"));
        var balance = (await wallet.GetBalance())!.Total;
        var debit = new DebitRequest("q-failover", LedgerEntryKind.InferenceCharge, Usd(1.5m), "m");

        await ServerRole.DemoteAsync(cluster.ConnectionString);
        // Bounded: the first attempt may meet the cut connection, the next ones the read-only server.
        for (int attempt = 0; attempt < 3; attempt++)
            await Assert.ThrowsAsync<StorageUnavailableException>(() => wallet.Debit(debit));
        await ServerRole.PromoteAsync(cluster.ConnectionString);

        // The client retries its 503 with the same key. A pooled session opened while the database was read-only keeps that
        // setting (ALTER DATABASE applies per new session, unlike a real promotion), so the first retry may still meet one.
        WalletOpResult? applied = null;
        for (int attempt = 1; applied is null; attempt++)
        {
            try
            {
                applied = await wallet.Debit(debit);
            }
            catch (StorageUnavailableException) when (attempt < 3)
            {
            }
        }
        var replayed = await wallet.Debit(debit);

        Assert.True(applied.Succeeded && !applied.Replayed);
        Assert.Equal(applied with { Replayed = true }, replayed);
        Assert.Equal(balance - Usd(1.5m), (await wallet.GetBalance())!.Total);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND idempotency_key = 'q-failover'", id));
        Assert.True((await Reconciler.RunAsync(cluster.Db)).IsClean);
    }
}
