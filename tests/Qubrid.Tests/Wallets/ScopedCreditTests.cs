using Microsoft.Extensions.Configuration;
using Qubrid.Silo;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

/// <summary>Scoped credits (docs/rules.md#R-SCOPE-1..4) on wallet and session grains, on real PostgreSQL.</summary>
[Collection(ClusterCollection.Name)]
public class ScopedCreditTests(BillingCluster cluster)
{
    private static readonly CreditScope A100Only = new(InstanceTypes: ["A100"]);

    /// <summary>A wallet holding only a 10 USD grant scoped to A100 (its sign-up bonus taken back by an adjustment).</summary>
    private async Task<(IWalletGrain Wallet, string UserId, long LotId)> A100OnlyWalletAsync(string purpose)
    {
        var wallet = await cluster.NewWalletAsync(purpose);
        Assert.True((await wallet.Debit(new DebitRequest("drain", LedgerEntryKind.Adjustment, Micros.FromUsd(BillingCluster.SignupBonusUsd), "test"))).Succeeded);
        var grant = await wallet.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(10m), "A100 voucher",
            cluster.Clock.GetUtcNow().AddDays(30), A100Only));
        Assert.True(grant.Succeeded);
        return (wallet, wallet.GetPrimaryKeyString(), grant.LotId!.Value);
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-1")]
    [Trait("Rule", "R-SCOPE-3")]
    public async Task A_grant_scoped_to_A100_pays_an_A100_session_and_not_an_H100_one()
    {
        var (wallet, userId, lotId) = await A100OnlyWalletAsync("scoped");
        var balance = (await wallet.GetBalance())!;
        Assert.Equal(Micros.FromUsd(10m), balance.Total);
        Assert.Equal(Micros.FromUsd(10m), balance.Scoped);
        Assert.Equal(Micros.Zero, balance.Available);
        var lot = Assert.Single((await wallet.GetLots())!, l => l.Id == lotId);
        Assert.Equal(A100Only, lot.Scope); // read back from qubrid_lots.scope

        var h100 = cluster.Grains.GetGrain<ISessionGrain>($"h100-{Guid.NewGuid():N}");
        Assert.Equal(ErrorCodes.InsufficientCredits, (await h100.Start(new StartSessionRequest(userId, "H100"))).ErrorCode);
        var a100 = cluster.Grains.GetGrain<ISessionGrain>($"a100-{Guid.NewGuid():N}");
        Assert.True((await a100.Start(new StartSessionRequest(userId, "A100"))).Succeeded);

        // One hour on the clock, then the stop: 1.69 USD in all, whether a reminder's tick charged part of it first or not.
        cluster.Clock.Advance(TimeSpan.FromHours(1));
        var stopped = await a100.Stop();
        Assert.Equal(SessionState.Stopped, stopped.Session!.State);
        Assert.Equal(Micros.FromUsd(1.69m), stopped.Session.Charged);
        var charges = (await wallet.GetLedger(new LedgerQuery(Kinds: [LedgerEntryKind.SessionCharge])))!.Items;
        Assert.NotEmpty(charges);
        Assert.All(charges, c => Assert.Equal(lotId, Assert.Single(c.Lots).LotId));

        // Inference is not in the scope: the wallet has nothing it may spend on it.
        var query = await wallet.ChargeInference(new InferenceChargeRequest("q", "deepseek-r1", 1000, 1000));
        Assert.Equal(ErrorCodes.InsufficientCredits, query.ErrorCode);
        Assert.Equal(Micros.FromUsd(10m - 1.69m), (await wallet.GetBalance())!.Scoped);
        await AssertReconcileIsCleanAsync();
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-4")]
    public async Task The_runway_counts_a_scoped_grant_for_the_A100_only()
    {
        // 10 USD for A100 only: an A100 alone runs 10 / 1.69 h = 21,301 s on it.
        var (wallet, userId, _) = await A100OnlyWalletAsync("runway-a100");
        var a100 = cluster.Grains.GetGrain<ISessionGrain>($"a100-{Guid.NewGuid():N}");
        Assert.True((await a100.Start(new StartSessionRequest(userId, "A100"))).Succeeded);
        Assert.Equal(21_301, (await wallet.GetBalance())!.RunwaySeconds);
        await a100.Stop();

        // The 5 USD bonus and 10 USD for A100: an H100 starts on the bonus (3.64 USD for 10 minutes) and its runway is the
        // bonus alone, 5 / 21.84 h = 824 s; the A100 grant does not lengthen it.
        var mixed = await cluster.NewWalletAsync("runway-h100");
        var mixedId = mixed.GetPrimaryKeyString();
        Assert.True((await mixed.Credit(new CreditRequest("g", LedgerEntryKind.Grant, Micros.FromUsd(10m), "A100 voucher",
            cluster.Clock.GetUtcNow().AddDays(30), A100Only))).Succeeded);
        var h100 = cluster.Grains.GetGrain<ISessionGrain>($"h100-{Guid.NewGuid():N}");
        Assert.True((await h100.Start(new StartSessionRequest(mixedId, "H100"))).Succeeded);
        var balance = (await mixed.GetBalance())!;
        Assert.Equal(824, balance.RunwaySeconds);
        Assert.Equal(Micros.FromUsd(15m), balance.Total);
        await h100.Stop();
        await AssertReconcileIsCleanAsync();
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-1")]
    public async Task Only_a_grant_with_a_normalized_scope_is_accepted_and_the_scope_is_part_of_its_key()
    {
        var wallet = await cluster.NewWalletAsync("scope-rules");
        var expires = cluster.Clock.GetUtcNow().AddDays(1);
        Assert.Equal(ErrorCodes.InvalidScope, (await wallet.Credit(new CreditRequest("t", LedgerEntryKind.Topup, Micros.FromUsd(1m), "pay", null, A100Only))).ErrorCode);
        Assert.Equal(ErrorCodes.InvalidScope, (await wallet.Credit(new CreditRequest("g0", LedgerEntryKind.Grant, Micros.FromUsd(1m), "x", expires,
            new CreditScope(InstanceTypes: ["H100", "A100"])))).ErrorCode);
        Assert.True((await wallet.Credit(new CreditRequest("g1", LedgerEntryKind.Grant, Micros.FromUsd(1m), "x", expires, A100Only))).Succeeded);
        Assert.True((await wallet.Credit(new CreditRequest("g1", LedgerEntryKind.Grant, Micros.FromUsd(1m), "x", expires, new CreditScope(InstanceTypes: ["A100"])))).Replayed);
        Assert.Equal(ErrorCodes.IdempotencyConflict, (await wallet.Credit(new CreditRequest("g1", LedgerEntryKind.Grant, Micros.FromUsd(1m), "x", expires,
            new CreditScope(InstanceTypes: ["H100"])))).ErrorCode);
    }

    private async Task AssertReconcileIsCleanAsync()
    {
        var config = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Qubrid"] = cluster.ConnectionString }).Build();
        var report = new StringWriter();
        Assert.True(await ReconcileCommand.RunAsync(config, report) == 0, report.ToString());
    }
}
