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
    [Trait("Rule", "R-RCPT-1")]
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
    [Trait("Rule", "R-RCPT-1")]
    public async Task Receipt_numbers_stay_gap_free_when_a_silo_dies_during_concurrent_topups()
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 3);
        var wallets = new List<string>();
        for (int w = 0; w < 8; w++) wallets.Add((await cluster.NewWalletAsync("receiptkill")).GetPrimaryKeyString());
        var topups = new TopupService(cluster.Db, new SandboxPaymentGateway(cluster.Db), cluster.Grains, TimeProvider.System);
        var kill = new SiloKill();
        var firstEight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int succeeded = 0;

        async Task<TopupOutcome> TopupAcrossTheKill(int i)
        {
            // A call the kill fails is run again with its key once the cluster has healed: the same key finishes the same payment.
            var outcome = await kill.RetryAcrossAsync(() => topups.TopupAsync(wallets[i % 8], Micros.FromUsd(5m + i), SandboxPaymentGateway.Success, $"k-{i}",
                CancellationToken.None), TimeSpan.FromSeconds(120));
            Assert.Equal(TopupOutcomeKind.Succeeded, outcome.Kind);
            if (Interlocked.Increment(ref succeeded) == 8) firstEight.SetResult();
            return outcome;
        }

        var running = Enumerable.Range(0, 32).Select(i => Task.Run(() => TopupAcrossTheKill(i))).ToList();
        await firstEight.Task.WaitAsync(TimeSpan.FromSeconds(60)); // 8 top-ups before the kill
        await kill.KillAsync(cluster.Cluster, cluster.Cluster.Silos[^1]);
        var outcomes = await Task.WhenAll(running);

        Assert.Equal(32, outcomes.Select(o => o.PaymentId).Distinct().Count());
        var serials = await SerialsAsync(cluster);
        Assert.Equal(Enumerable.Range(1, 32).Select(n => (long)n), serials);
        Assert.Equal(32, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE kind = 'topup'"));
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db,
            "SELECT count(*) FROM qubrid_ledger l LEFT JOIN qubrid_receipts r ON r.wallet_id = l.wallet_id AND r.seq = l.seq WHERE l.kind = 'topup' AND r.number IS NULL"));
        Assert.Empty((await Qubrid.Storage.Reconciler.RunAsync(cluster.Db)).Violations);
        output.WriteLine($"32 top-ups across a silo kill: {kill.Retried} retried calls (healed {kill.HealingTime.TotalSeconds:0.0} s after the kill), receipts 1..{serials.Count} without gaps");
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
