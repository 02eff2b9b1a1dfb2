using Qubrid.Payments;
using Qubrid.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Qubrid.Tests.Statements;

/// <summary>
/// Receipts are numbered in the crediting transaction from a counter row per UTC year: no gaps and no doubles under
/// concurrent top-ups on several wallets and silos, and across the death of a silo while top-ups are in flight.
/// </summary>
public class ReceiptTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Receipts_of_32_concurrent_topups_are_numbered_without_gaps_and_name_the_card_and_lot()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 2);
        var wallets = new List<string>();
        for (int w = 0; w < 8; w++) wallets.Add((await cluster.NewWalletAsync("receipt")).GetPrimaryKeyString());
        var topups = new TopupService(cluster.Db, new SandboxPaymentGateway(cluster.Db), cluster.Grains, TimeProvider.System);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => topups.TopupAsync(wallets[i % 8],
            Micros.FromUsd(10m + i), i % 2 == 0 ? SandboxPaymentGateway.Success : SandboxPaymentGateway.Mastercard, $"r-{i}", CancellationToken.None))));
        Assert.All(outcomes, o => Assert.Equal(TopupOutcomeKind.Succeeded, o.Kind));

        var receipts = new List<Receipt>();
        foreach (var w in wallets) receipts.AddRange(await cluster.Grains.GetGrain<IStatementGrain>(0).Receipts(w, 100));
        Assert.Equal(32, receipts.Count);
        var year = receipts[0].At.Year;
        Assert.Equal(Enumerable.Range(1, 32).Select(n => $"QC-{year}-{n:D6}"), receipts.Select(r => r.Number).Order(StringComparer.Ordinal));
        for (int i = 0; i < 32; i++)
        {
            var r = Assert.Single(receipts, r => r.PaymentId == outcomes[i].PaymentId);
            Assert.Equal(wallets[i % 8], r.UserId);
            Assert.Equal(Micros.FromUsd(10m + i), r.Amount);
            Assert.Equal(outcomes[i].LotId, r.LotId);
            Assert.Equal(i % 2 == 0 ? ("visa", "4242") : ("mastercard", "4444"), (r.Brand, r.Last4));
        }
    }

    [Fact]
    public async Task Receipt_numbers_stay_gap_free_when_a_silo_dies_during_concurrent_topups()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 3);
        var wallets = new List<string>();
        for (int w = 0; w < 8; w++) wallets.Add((await cluster.NewWalletAsync("receiptkill")).GetPrimaryKeyString());
        var topups = new TopupService(cluster.Db, new SandboxPaymentGateway(cluster.Db), cluster.Grains, TimeProvider.System);
        var firstEight = new CountdownEvent(8);
        int retries = 0;

        async Task<TopupOutcome> TopupWithRetries(int i)
        {
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    var outcome = await topups.TopupAsync(wallets[i % 8], Micros.FromUsd(5m + i), SandboxPaymentGateway.Success, $"k-{i}", CancellationToken.None);
                    if (outcome.Kind == TopupOutcomeKind.Succeeded)
                    {
                        if (firstEight.CurrentCount > 0) firstEight.Signal();
                        return outcome;
                    }
                }
                catch (Exception) when (attempt < 50)
                {
                }
                Interlocked.Increment(ref retries);
                await Task.Delay(100); // the cluster heals; the same key finishes the same payment
            }
        }

        var running = Enumerable.Range(0, 32).Select(i => Task.Run(() => TopupWithRetries(i))).ToList();
        Assert.True(firstEight.Wait(TimeSpan.FromSeconds(60)), "8 top-ups before the kill");
        var victim = cluster.Cluster.Silos[^1];
        await cluster.Cluster.KillSiloAsync(victim);
        var outcomes = await Task.WhenAll(running);

        Assert.Equal(32, outcomes.Select(o => o.PaymentId).Distinct().Count());
        var serials = await SerialsAsync(cluster);
        Assert.Equal(Enumerable.Range(1, 32).Select(n => (long)n), serials);
        Assert.Equal(32, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'topup'"));
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_ledger l LEFT JOIN qubrid_receipts r ON r.wallet_id = l.wallet_id AND r.seq = l.seq WHERE l.kind = 'topup' AND r.number IS NULL"));
        Assert.Empty((await Qubrid.Storage.Reconciler.RunAsync(cluster.Db)).Violations);
        output.WriteLine($"32 top-ups across a silo kill: {retries} retried calls, receipts 1..{serials.Count} without gaps");
    }

    private static async Task<List<long>> SerialsAsync(BillingCluster cluster)
    {
        var serials = new List<long>();
        await using var cmd = cluster.Db.CreateCommand("SELECT serial FROM qubrid_receipts ORDER BY serial");
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) serials.Add(reader.GetInt64(0));
        return serials;
    }
}
