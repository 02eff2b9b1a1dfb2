using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Wallets;

[Collection(ClusterCollection.Name)]
public class InferenceChargeTests(BillingCluster cluster)
{
    [Fact]
    [Trait("Rule", "R-INF-1")]
    public async Task Inference_is_priced_exactly_from_token_counts()
    {
        var wallet = await cluster.NewWalletAsync("infer");
        // deepseek-r1: 0.55 USD/M input, 2.19 USD/M output → 1234 × 0.55 + 5678 × 2.19 = 678.7 + 12434.82 = 13113.52 micros → 13113
        var result = await wallet.ChargeInference(new InferenceChargeRequest("q1", "deepseek-r1", 1234, 5678));
        Assert.True(result.Succeeded);
        Assert.Equal(new Micros(13_113), result.Amount);
        var entry = Assert.Single((await wallet.GetLedger(new LedgerQuery(Kinds: [LedgerEntryKind.InferenceCharge])))!.Items);
        Assert.Equal(new Micros(-13_113), entry.Amount);
        Assert.Equal("deepseek-r1", entry.Usage!.Model);
    }

    [Fact]
    [Trait("Rule", "R-INF-3")]
    public async Task An_unaffordable_query_is_refused_and_nothing_is_written()
    {
        var wallet = await cluster.NewWalletAsync("broke"); // 5 USD
        var result = await wallet.ChargeInference(new InferenceChargeRequest("big", "deepseek-r1", 0, 3_000_000)); // 6.57 USD
        Assert.Equal(WalletOpStatus.InsufficientCredits, result.Status);
        Assert.Equal(ErrorCodes.InsufficientCredits, result.ErrorCode);
        Assert.Equal(1, await cluster.LedgerRowsAsync(wallet.GetPrimaryKeyString()));
        Assert.Equal(Micros.FromUsd(5m), (await wallet.GetBalance())!.Total);
    }

    [Fact]
    [Trait("Rule", "R-INF-1")]
    public async Task An_unknown_model_or_bad_token_count_is_a_clear_error()
    {
        var wallet = await cluster.NewWalletAsync("unknown");
        Assert.Equal(ErrorCodes.UnknownModel, (await wallet.ChargeInference(new InferenceChargeRequest("q", "gpt-17", 10, 10))).ErrorCode);
        Assert.Equal(ErrorCodes.InvalidRequest, (await wallet.ChargeInference(new InferenceChargeRequest("q", "deepseek-r1", -1, 10))).ErrorCode);
        Assert.Equal(ErrorCodes.UnknownModel, (await wallet.ChargePremium(new PremiumChargeRequest("p", "nope"))).ErrorCode);
        Assert.Equal(1, await cluster.LedgerRowsAsync(wallet.GetPrimaryKeyString()));
    }

    [Fact]
    [Trait("Rule", "R-INF-6")]
    public async Task Premium_access_is_a_priced_debit_of_its_own_kind()
    {
        var wallet = await cluster.NewWalletAsync("premium");
        var result = await wallet.ChargePremium(new PremiumChargeRequest("p1", "premium-model-access"));
        Assert.Equal(Micros.FromUsd(1m), result.Amount);
        var entry = Assert.Single((await wallet.GetLedger(new LedgerQuery(Kinds: [LedgerEntryKind.PremiumAccess])))!.Items);
        Assert.Equal(Micros.FromUsd(-1m), entry.Amount);
    }
}
