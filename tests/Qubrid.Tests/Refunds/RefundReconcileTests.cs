using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Qubrid.Payments;
using Qubrid.Silo;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Refunds;

/// <summary>Reconcile over refunds to the card, credit notes and the credits report (docs/rules.md#R-REPORT-2).</summary>
[Collection(ClusterCollection.Name)]
public class RefundReconcileTests(BillingCluster cluster)
{
    [Fact]
    [Trait("Rule", "R-REPORT-2")]
    [Trait("Rule", "R-REFUND-3")]
    public async Task Reconcile_finds_the_reports_equal_to_the_entries_and_names_a_gap_in_the_credit_notes()
    {
        var wallet = await cluster.NewWalletAsync("refundrecon");
        var userId = wallet.GetPrimaryKeyString();
        var topups = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<TopupService>();
        var paid = await topups.TopupAsync(userId, Micros.FromUsd(12m), SandboxPaymentGateway.Success, "t1", CancellationToken.None);
        var refunds = cluster.Grains.GetGrain<ICardRefundGrain>(paid.PaymentId!);
        var first = await refunds.Refund(new CardRefundRequest("r1", paid.PaymentId!, Micros.FromUsd(2m), "first"));
        var second = await refunds.Refund(new CardRefundRequest("r2", paid.PaymentId!, Micros.FromUsd(3m), "second"));
        Assert.Equal(CardRefundStatus.Succeeded, first.Refund!.Status);
        Assert.NotEqual(first.Refund.CreditNote, second.Refund!.CreditNote);
        var voided = await cluster.Grains.GetGrain<IWalletLotsGrain>(userId).VoidLot(new VoidLotRequest("v1", 1, "mistake"));
        Assert.Equal(Micros.FromUsd(BillingCluster.SignupBonusUsd), voided.Voided);
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Qubrid"] = cluster.ConnectionString }).Build();

        var clean = new StringWriter();
        Assert.Equal(0, await ReconcileCommand.RunAsync(config, clean));
        Assert.Contains("0 violations", clean.ToString());

        await TestDatabase.ExecAsync(cluster.Db, "UPDATE qubrid_credit_note_counters SET last_number = last_number + 1");
        try
        {
            var broken = new StringWriter();
            Assert.Equal(1, await ReconcileCommand.RunAsync(config, broken));
            Assert.Contains("credit note numbers are 1..n per year without gaps", broken.ToString());
        }
        finally
        {
            await TestDatabase.ExecAsync(cluster.Db, "UPDATE qubrid_credit_note_counters SET last_number = last_number - 1");
        }
    }
}
