using Microsoft.Extensions.DependencyInjection;
using Qubrid.Payments;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Refunds;

/// <summary>The credits report against sums over random ledgers of several wallets, across month boundaries (docs/rules.md#R-REPORT-1).</summary>
public class CreditsReportTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly HashSet<LedgerEntryKind> Spending = [LedgerEntryKind.SessionCharge, LedgerEntryKind.InferenceCharge, LedgerEntryKind.PremiumAccess,
        LedgerEntryKind.HoldCapture];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [Trait("Rule", "R-REPORT-1")]
    public async Task Every_figure_of_every_month_equals_the_sum_over_the_ledgers_movements(int seed)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1);
        var random = new Random(seed);
        var wallets = new[] { await cluster.NewWalletAsync($"report{seed}a"), await cluster.NewWalletAsync($"report{seed}b") };
        var topups = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<TopupService>();
        var payments = new List<string>();
        for (int step = 0; step < 50; step++)
        {
            cluster.Clock.Advance(TimeSpan.FromMinutes(random.Next(1, 60 * 24 * 3))); // several months in all
            var wallet = wallets[random.Next(wallets.Length)];
            var id = wallet.GetPrimaryKeyString();
            await wallet.ExpireDueLots();
            var key = $"s{step}";
            var amount = Micros.FromUsd(random.Next(1, 3000) / 100m);
            switch (random.Next(9))
            {
                case 0:
                    await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Grant, amount, "promo", cluster.Clock.GetUtcNow().AddDays(random.Next(1, 10))));
                    break;
                case 1:
                    var paid = await topups.TopupAsync(id, amount, SandboxPaymentGateway.Success, key, CancellationToken.None);
                    payments.Add(paid.PaymentId!);
                    break;
                case 2:
                    await wallet.Debit(new DebitRequest(key, LedgerEntryKind.Adjustment, amount, "correction"));
                    break;
                case 3 or 4 when payments.Count > 0:
                    var payment = payments[random.Next(payments.Count)]; // a small part of a purchase, so that most go through
                    await cluster.Grains.GetGrain<ICardRefundGrain>(payment).Refund(new CardRefundRequest(key, payment, Micros.FromUsd(random.Next(1, 300) / 100m), "refund"));
                    break;
                case 5:
                    var lots = (await wallet.GetLots())!.Where(l => l.Kind == LotKind.Promotional).ToList();
                    if (lots.Count > 0) await cluster.Grains.GetGrain<IWalletLotsGrain>(id).VoidLot(new VoidLotRequest(key, lots[random.Next(lots.Count)].Id, "void"));
                    break;
                default:
                    await wallet.ChargePremium(new PremiumChargeRequest(key, "flux-pro-image", null));
                    break;
            }
        }

        var movements = new List<(DateTimeOffset At, LedgerEntryKind Kind, LotKind LotKind, long Amount)>();
        foreach (var wallet in wallets)
        {
            var lotKinds = (await wallet.GetLots())!.ToDictionary(l => l.Id, l => l.Kind);
            var page = await wallet.GetLedger(new LedgerQuery(Limit: LedgerQuery.MaxLimit));
            Assert.Null(page!.NextBefore);
            foreach (var e in page.Items)
                foreach (var m in e.Lots) movements.Add((e.At, e.Kind, lotKinds[m.LotId], m.Amount.Value));
        }
        Assert.Contains(movements, m => m.Kind == LedgerEntryKind.CardRefund);
        var months = movements.Select(m => new DateTime(m.At.Year, m.At.Month, 1, 0, 0, 0, DateTimeKind.Utc)).Distinct().Order().ToList();
        Assert.True(months.Count >= 2, "the history spans more than one month");
        foreach (var month in months.Append(months[^1].AddMonths(1)))
        {
            var report = await cluster.Grains.GetGrain<IRefundReportGrain>(0).CreditsReport(month.Year, month.Month);
            var within = movements.Where(m => m.At >= month && m.At < month.AddMonths(1)).ToList();
            long Sum(LotKind lot, Func<(DateTimeOffset At, LedgerEntryKind Kind, LotKind LotKind, long Amount), bool> which) =>
                within.Where(m => m.LotKind == lot && which(m)).Sum(m => m.Amount);
            Assert.Equal(Sum(LotKind.Promotional, m => m.Amount > 0), report.PromotionalGranted.Value);
            Assert.Equal(-Sum(LotKind.Promotional, m => Spending.Contains(m.Kind)), report.PromotionalConsumed.Value);
            Assert.Equal(-Sum(LotKind.Promotional, m => m.Kind == LedgerEntryKind.Expiration), report.PromotionalExpired.Value);
            Assert.Equal(-Sum(LotKind.Promotional, m => m.Kind == LedgerEntryKind.GrantVoid), report.PromotionalVoided.Value);
            Assert.Equal(Sum(LotKind.Purchased, m => m.Kind == LedgerEntryKind.Topup), report.PurchasedBought.Value);
            Assert.Equal(-Sum(LotKind.Purchased, m => Spending.Contains(m.Kind)), report.PurchasedConsumed.Value);
            Assert.Equal(-Sum(LotKind.Purchased, m => m.Kind == LedgerEntryKind.CardRefund), report.PurchasedRefunded.Value);
            Assert.Equal(movements.Where(m => m.LotKind == LotKind.Purchased && m.At < month.AddMonths(1)).Sum(m => m.Amount), report.PurchasedOutstanding.Value);
            output.WriteLine($"{month:yyyy-MM} report (micros): promotional granted {report.PromotionalGranted.Value} consumed {report.PromotionalConsumed.Value} " +
                $"expired {report.PromotionalExpired.Value} voided {report.PromotionalVoided.Value}; purchased bought {report.PurchasedBought.Value} " +
                $"consumed {report.PurchasedConsumed.Value} refunded {report.PurchasedRefunded.Value} outstanding {report.PurchasedOutstanding.Value}; " +
                $"= ledger movement sums ({within.Count} movements in the month)");
        }
        var lastMonth = months[^1];
        var latest = await cluster.Grains.GetGrain<IRefundReportGrain>(0).CreditsReport(lastMonth.Year, lastMonth.Month);
        long purchasedNow = 0;
        foreach (var wallet in wallets) purchasedNow += (await wallet.GetBalance())!.Purchased.Value;
        Assert.Equal(purchasedNow, latest.PurchasedOutstanding.Value);
    }
}
