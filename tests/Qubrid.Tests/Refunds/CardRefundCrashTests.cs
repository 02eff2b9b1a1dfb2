using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Qubrid.Payments;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Refunds;

/// <summary>Refunds to the card on real silos and PostgreSQL: a silo killed between the gateway's refund and the ledger entry.</summary>
public class CardRefundCrashTests
{
    private static readonly Dictionary<string, string?> Fast = new() { ["Qubrid:CardRefunds:ResumeAfter"] = "00:00:01" };

    [Fact]
    [Trait("Rule", "R-REFUND-5")]
    public async Task A_silo_killed_between_the_gateway_refund_and_the_entry_leaves_exactly_one_refund_and_one_entry()
    {
        var gates = new RefundGates();
        await using var cluster = await BillingCluster.StartAsync(2, Fast, services => services.AddSingleton<IPaymentGateway>(sp => gates.For(sp)));
        var wallet = await cluster.NewWalletAsync("refundkill");
        var userId = wallet.GetPrimaryKeyString();
        var topups = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<TopupService>();
        var paid = await topups.TopupAsync(userId, Micros.FromUsd(20m), SandboxPaymentGateway.Success, "t1", CancellationToken.None);
        Assert.Equal(TopupOutcomeKind.Succeeded, paid.Kind);
        var refunds = cluster.Grains.GetGrain<ICardRefundGrain>(paid.PaymentId!);
        using var resume = ReminderTicks.Of(refunds);

        var call = refunds.Refund(new CardRefundRequest("r1", paid.PaymentId!, Micros.FromUsd(6m), "customer asked"));
        var refunding = await gates.Refunded.Task.WaitAsync(ReminderTicks.Bound); // the gateway has refunded; the entry is not written yet
        var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(refunding));
        await cluster.Cluster.KillSiloAsync(victim);
        resume.Forget(victim.SiloAddress);
        gates.Release();
        await cluster.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);
        _ = call.ContinueWith(t => t.Exception, TaskScheduler.Default); // the caller may or may not hear back: the silo that ran it died

        // Nobody calls again: the payment's resume reminder finishes the refund on the silo left.
        var tick = Assert.Single(await resume.AdvanceAsync(cluster.Clock, TimeSpan.FromSeconds(1), "the card refund's resume reminder"));
        Assert.NotEqual(victim.SiloAddress, tick.SiloAddress);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_sandbox_refunds WHERE payment_id = $1", paid.PaymentId!));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'card_refund'", userId));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_credit_notes WHERE wallet_id = $1", userId));
        Assert.Equal(0, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_card_refunds WHERE payment_id = $1 AND status <> 'succeeded'", paid.PaymentId!));
        Assert.True(gates.Calls >= 2, $"the gateway was asked {gates.Calls} times");
        Assert.Equal(Micros.FromUsd(BillingCluster.SignupBonusUsd + 14m), (await wallet.GetBalance())!.Total);

        // A retry of the same request answers the refund as it ended, and refunds nothing more.
        var again = await refunds.Refund(new CardRefundRequest("r1", paid.PaymentId!, Micros.FromUsd(6m), "customer asked"));
        Assert.Equal(CardRefundStatus.Succeeded, again.Refund!.Status);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'card_refund'", userId));
    }

    [Fact]
    [Trait("Rule", "R-REFUND-1")]
    [Trait("Rule", "R-REFUND-2")]
    public async Task A_reserved_refund_survives_a_restart_and_keeps_its_amount_from_every_debit_until_it_is_settled()
    {
        await using var cluster = await BillingCluster.StartAsync(1);
        var wallet = await cluster.NewWalletAsync("refundreload");
        var userId = wallet.GetPrimaryKeyString();
        var lotId = (await wallet.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay_reload"))).LotId!.Value;
        var reserved = await cluster.Grains.GetGrain<IWalletLotsGrain>(userId)
            .ReserveCardRefund(new CardRefundRequest("r", "pay_reload", Micros.FromUsd(8m), "customer asked", lotId, "re_reload"));
        Assert.Equal(CardRefundStatus.Pending, reserved.Refund!.Status);

        await cluster.RestartAsync(); // the book is loaded again from the database: the reservation with it
        wallet = cluster.Wallet(userId);
        Assert.Equal(Micros.FromUsd(BillingCluster.SignupBonusUsd + 2m), (await wallet.GetBalance())!.Available);
        var spend = await wallet.Debit(new DebitRequest("d1", LedgerEntryKind.PremiumAccess, Micros.FromUsd(BillingCluster.SignupBonusUsd + 2m), "all but the refund"));
        Assert.True(spend.Succeeded, spend.Detail);
        Assert.Equal(WalletOpStatus.InsufficientCredits, (await wallet.Debit(new DebitRequest("d2", LedgerEntryKind.PremiumAccess, new Micros(1), "one more"))).Status);
        Assert.Equal(Micros.FromUsd(8m), (await wallet.GetLots())!.Single(l => l.Id == lotId).Remaining);

        var settled = await cluster.Grains.GetGrain<IWalletLotsGrain>(userId).SettleCardRefund("re_reload", true, null);
        Assert.Equal(CardRefundStatus.Succeeded, settled.Refund!.Status);
        Assert.Matches(@"^QC-CN-\d{4}-000001$", settled.Refund.CreditNote);
        Assert.Equal(Micros.Zero, (await wallet.GetBalance())!.Total);
    }

    [Fact]
    [Trait("Rule", "R-REFUND-5")]
    public async Task A_refund_a_crash_left_reserved_before_the_gateway_is_finished_by_the_next_refund_of_the_payment()
    {
        await using var cluster = await BillingCluster.StartAsync(1);
        var wallet = await cluster.NewWalletAsync("refundorphan");
        var userId = wallet.GetPrimaryKeyString();
        var topups = cluster.Cluster.Silos[0].ServiceProvider.GetRequiredService<TopupService>();
        var paid = await topups.TopupAsync(userId, Micros.FromUsd(10m), SandboxPaymentGateway.Success, "t1", CancellationToken.None);
        // What a crash between the reservation and the gateway call leaves: a pending row, the amount reserved, no gateway refund.
        var orphan = CardRefunds.IdOf(paid.PaymentId!, "lost");
        await cluster.Grains.GetGrain<IWalletLotsGrain>(userId)
            .ReserveCardRefund(new CardRefundRequest("lost", paid.PaymentId!, Micros.FromUsd(4m), "first try", paid.LotId!.Value, orphan));

        var next = await cluster.Grains.GetGrain<ICardRefundGrain>(paid.PaymentId!)
            .Refund(new CardRefundRequest("next", paid.PaymentId!, Micros.FromUsd(6m), "the rest"));

        Assert.Equal(CardRefundStatus.Succeeded, next.Refund!.Status);
        Assert.Equal(2, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_sandbox_refunds WHERE payment_id = $1 AND outcome = 'succeeded'", paid.PaymentId!));
        Assert.Equal(2, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_card_refunds WHERE payment_id = $1 AND status = 'succeeded'", paid.PaymentId!));
        Assert.Equal(-1000_0000, await TestDatabase.ScalarAsync(cluster.Db, "SELECT sum(amount) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'card_refund'", userId));
    }

    /// <summary>Sandbox gateways (one per silo) whose first refund goes through, then is held until released; says which silo's refunded first.</summary>
    private sealed class RefundGates
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _calls;
        public TaskCompletionSource<Orleans.Runtime.SiloAddress> Refunded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Calls => Volatile.Read(ref _calls);

        public void Release() => _released.TrySetResult();

        public IPaymentGateway For(IServiceProvider silo) => new Gated(new SandboxPaymentGateway(silo.GetRequiredService<NpgsqlDataSource>()), silo, this);

        private sealed class Gated(SandboxPaymentGateway inner, IServiceProvider silo, RefundGates gates) : IPaymentGateway
        {
            public bool IsKnownToken(string token) => inner.IsKnownToken(token);

            public Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct) => inner.ChargeAsync(paymentId, amount, token, ct);

            public Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct) => inner.FindChargeAsync(paymentId, ct);

            public Task VoidAsync(string paymentId, CancellationToken ct) => inner.VoidAsync(paymentId, ct);

            public async Task<GatewayRefund> RefundAsync(string refundId, string paymentId, Micros amount, CancellationToken ct)
            {
                var refund = await inner.RefundAsync(refundId, paymentId, amount, ct);
                if (Interlocked.Increment(ref gates._calls) == 1)
                {
                    gates.Refunded.TrySetResult(silo.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress);
                    await gates._released.Task;
                }
                return refund;
            }
        }
    }
}
