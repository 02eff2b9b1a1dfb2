using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Qubrid.Payments;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.SpendControls;

/// <summary>Holds and auto top-up on real silos and PostgreSQL: expiry on an idle wallet, concurrency, a silo killed mid-payment.</summary>
public class SpendControlGrainTests
{
    private static readonly Dictionary<string, string?> Fast = new()
    {
        ["Qubrid:AutoTopup:ResumeAfter"] = "00:00:01",
        ["Qubrid:AutoTopup:RetryAfter"] = "00:00:00",
    };

    [Fact]
    [Trait("Rule", "R-HOLD-5")]
    public async Task A_hold_on_an_idle_wallet_expires_by_itself_at_its_expiry_and_raises_hold_expired()
    {
        await using var cluster = await BillingCluster.StartAsync(1, Fast);
        var wallet = await cluster.NewWalletAsync("holdexpiry");
        using var ticks = ReminderTicks.Of(wallet);
        var expiresAt = cluster.Clock.GetUtcNow().AddMinutes(10);
        var hold = await wallet.CreateHold(new HoldRequest("h1", Micros.FromUsd(3m), expiresAt, "job"));
        Assert.True(hold.Result.Succeeded);
        Assert.Equal(Micros.FromUsd(2m), (await wallet.GetBalance())!.Available);

        // Nobody calls the wallet: its expiry reminder, due at the hold's expiry, fires when the clock gets there.
        var tick = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, TimeSpan.FromMinutes(10), "the wallet's expiry reminder"));
        Assert.Equal(expiresAt.UtcDateTime, tick.Status.CurrentTickTime);
        Assert.Empty((await wallet.GetHolds())!);
        Assert.Equal("expired", await TestDatabase.ScalarTextAsync(cluster.Db, "SELECT state FROM qubrid_holds WHERE wallet_id = $1", wallet.GetPrimaryKeyString()));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind = 'hold_expired'", wallet.GetPrimaryKeyString()));
        var balance = (await wallet.GetBalance())!;
        Assert.Equal(Micros.Zero, balance.Held);
        Assert.Equal(Micros.FromUsd(5m), balance.Available);
    }

    [Fact]
    [Trait("Rule", "R-AUTO-1")]
    public async Task Thirty_two_concurrent_debits_crossing_the_threshold_start_exactly_one_auto_top_up()
    {
        await using var cluster = await BillingCluster.StartAsync(2, Fast);
        var wallet = await cluster.NewWalletAsync("auto32");
        var userId = wallet.GetPrimaryKeyString();
        await wallet.ConfigureAutoTopup(new AutoTopupSettings(true, Micros.FromUsd(4m), Micros.FromUsd(25m), SandboxPaymentGateway.Success, Micros.FromUsd(100m)));
        // An attempt holds its resume reminder until it is settled, and then removes it: that is the signal awaited.
        using var attempt = ReminderTicks.Of(cluster.Grains.GetGrain<IAutoTopupGrain>(userId));
        var debits = Enumerable.Range(0, 32).Select(i =>
            wallet.Debit(new DebitRequest($"d{i}", LedgerEntryKind.InferenceCharge, Micros.FromUsd(0.1m), "m", new UsageTags(Model: "m"))));
        Assert.All(await Task.WhenAll(debits), r => Assert.True(r.Succeeded));
        await attempt.UnregisteredAsync("the auto top-up to be settled");
        Assert.False((await wallet.GetAutoTopup())!.InFlight);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_payments WHERE user_id = $1", userId));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'topup'", userId));
        // The top-up bought back to the target from what was available when the threshold was crossed: the total is then at least 25 − 3.2.
        var total = (await wallet.GetBalance())!.Total;
        Assert.True(total >= Micros.FromUsd(21.8m) && total <= Micros.FromUsd(25m), $"total {total}");
    }

    [Fact]
    [Trait("Rule", "R-AUTO-2")]
    public async Task Killing_the_silo_charging_an_auto_top_up_still_charges_and_credits_it_exactly_once()
    {
        var gates = new GatedGateways();
        await using var cluster = await BillingCluster.StartAsync(2, Fast, services => services.AddSingleton<IPaymentGateway>(sp => gates.For(sp)));
        var wallet = await cluster.NewWalletAsync("autokill");
        var userId = wallet.GetPrimaryKeyString();
        using var resume = ReminderTicks.Of(cluster.Grains.GetGrain<IAutoTopupGrain>(userId));
        await wallet.ConfigureAutoTopup(new AutoTopupSettings(true, Micros.FromUsd(4m), Micros.FromUsd(20m), SandboxPaymentGateway.Success, Micros.FromUsd(100m)));
        Assert.True((await wallet.Debit(new DebitRequest("d", LedgerEntryKind.InferenceCharge, Micros.FromUsd(2m), "m", new UsageTags(Model: "m")))).Succeeded);

        var charging = await gates.Entered.Task.WaitAsync(ReminderTicks.Bound); // the payment row is written; the card is being charged
        var victim = cluster.Cluster.Silos.Single(s => s.SiloAddress.Equals(charging));
        await cluster.Cluster.KillSiloAsync(victim);
        resume.Forget(victim.SiloAddress);
        gates.Release();
        await cluster.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);

        // Nobody calls the wallet: the attempt's resume reminder, due one ResumeAfter after the attempt began, finishes it
        // on the silo left (the tick returns once the attempt is settled).
        var tick = Assert.Single(await resume.AdvanceAsync(cluster.Clock, TimeSpan.FromSeconds(1), "the auto top-up's resume reminder"));
        Assert.NotEqual(victim.SiloAddress, tick.SiloAddress);
        Assert.False((await wallet.GetAutoTopup())!.InFlight);
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_payments WHERE user_id = $1", userId));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_sandbox_charges WHERE payment_id = $1 AND outcome = 'succeeded'",
            AutoTopupGrain.PaymentIdOf(userId, 1)));
        Assert.Equal(1, await TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1 AND kind = 'topup'", userId));
        Assert.Equal(Micros.FromUsd(20m), (await wallet.GetBalance())!.Total);
    }

    /// <summary>Sandbox gateways (one per silo) that hold every charge until released, and say which silo's was entered first.</summary>
    private sealed class GatedGateways
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<Orleans.Runtime.SiloAddress> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _released.TrySetResult();

        public IPaymentGateway For(IServiceProvider silo) => new Gated(new SandboxPaymentGateway(silo.GetRequiredService<NpgsqlDataSource>()), silo, this);

        private sealed class Gated(SandboxPaymentGateway inner, IServiceProvider silo, GatedGateways gates) : IPaymentGateway
        {
            public bool IsKnownToken(string token) => inner.IsKnownToken(token);

            public async Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct)
            {
                gates.Entered.TrySetResult(silo.GetRequiredService<Orleans.Runtime.ILocalSiloDetails>().SiloAddress);
                await gates._released.Task;
                return await inner.ChargeAsync(paymentId, amount, token, ct);
            }

            public Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct) => inner.FindChargeAsync(paymentId, ct);

            public Task VoidAsync(string paymentId, CancellationToken ct) => inner.VoidAsync(paymentId, ct);

            public Task<GatewayRefund> RefundAsync(string refundId, string paymentId, Micros amount, CancellationToken ct) =>
                inner.RefundAsync(refundId, paymentId, amount, ct);
        }
    }
}

/// <summary>The wallet's own events (docs/rules.md#R-EVENT-2): credits_expiring 7 days and 1 day before, balance_depleted and balance_recovered.</summary>
public class WalletEventTests
{
    private static Task<long> EventsAsync(BillingCluster cluster, string walletId, string kind) =>
        TestDatabase.ScalarAsync(cluster.Db, "SELECT count(*) FROM qubrid_events WHERE wallet_id = $1 AND kind = $2", walletId, kind);

    [Fact]
    [Trait("Rule", "R-EVENT-2")]
    public async Task A_promotional_lot_raises_credits_expiring_seven_days_and_one_day_before_its_expiry_once_each_on_an_idle_wallet()
    {
        await using var cluster = await BillingCluster.StartAsync(1, new Dictionary<string, string?> { ["Qubrid:SignupBonus:Amount"] = "0" });
        var wallet = await cluster.NewWalletAsync("expiring");
        var id = wallet.GetPrimaryKeyString();
        using var ticks = ReminderTicks.Of(wallet);
        var now = cluster.Clock.GetUtcNow();
        Assert.True((await wallet.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(3m), "beta", now.AddDays(10)))).Succeeded);

        // Nobody calls the wallet: its reminder is due at each notice, and fires when the clock gets there.
        await ticks.ArmedAsync("the wallet's expiry reminder");
        cluster.Clock.Advance(TimeSpan.FromDays(2)); // before the first notice: nothing is due
        Assert.Empty(ticks.Seen);
        Assert.Equal(0, await EventsAsync(cluster, id, EventKinds.CreditsExpiring));
        var sevenDaysBefore = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, TimeSpan.FromDays(1), "the wallet's expiry reminder"));
        Assert.Equal(now.AddDays(3).UtcDateTime, sevenDaysBefore.Status.CurrentTickTime);
        Assert.Equal(1, await EventsAsync(cluster, id, EventKinds.CreditsExpiring));
        await cluster.FireRemindersAsync(wallet); // a tick delivered twice raises nothing more
        Assert.Equal(1, await EventsAsync(cluster, id, EventKinds.CreditsExpiring));
        var oneDayBefore = Assert.Single(await ticks.AdvanceAsync(cluster.Clock, TimeSpan.FromDays(6), "the wallet's expiry reminder"));
        Assert.Equal(now.AddDays(9).UtcDateTime, oneDayBefore.Status.CurrentTickTime);
        Assert.Equal(2, await EventsAsync(cluster, id, EventKinds.CreditsExpiring));
        Assert.Equal("{\"daysBefore\": 1}", await TestDatabase.ScalarTextAsync(cluster.Db,
            "SELECT jsonb_build_object('daysBefore', data->'daysBefore')::text FROM qubrid_events WHERE wallet_id = $1 AND kind = 'credits_expiring' ORDER BY id DESC LIMIT 1", id));
        Assert.Equal(2, await TestDatabase.ScalarAsync(cluster.Db, "SELECT expiry_notices FROM qubrid_lots WHERE wallet_id = $1", id));
    }

    [Fact]
    [Trait("Rule", "R-EVENT-2")]
    public async Task Spending_the_last_credit_raises_balance_depleted_and_a_top_up_raises_balance_recovered_once_each()
    {
        await using var cluster = await BillingCluster.StartAsync(1);
        var wallet = await cluster.NewWalletAsync("depleted");
        var id = wallet.GetPrimaryKeyString();
        Assert.True((await wallet.Debit(new DebitRequest("d1", LedgerEntryKind.PremiumAccess, Micros.FromUsd(4m), "m"))).Succeeded);
        Assert.Equal(0, await EventsAsync(cluster, id, EventKinds.BalanceDepleted));
        Assert.True((await wallet.Debit(new DebitRequest("d2", LedgerEntryKind.PremiumAccess, Micros.FromUsd(1m), "m"))).Succeeded);
        Assert.False((await wallet.Debit(new DebitRequest("d3", LedgerEntryKind.PremiumAccess, Micros.FromUsd(1m), "m"))).Succeeded);
        Assert.Equal(1, await EventsAsync(cluster, id, EventKinds.BalanceDepleted));
        Assert.True((await wallet.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay_x"))).Succeeded);
        Assert.True((await wallet.Credit(new CreditRequest("t2", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay_y"))).Succeeded);
        Assert.Equal(1, await EventsAsync(cluster, id, EventKinds.BalanceRecovered));
        Assert.Equal(2, await EventsAsync(cluster, id, EventKinds.TopupSucceeded));
    }
}
