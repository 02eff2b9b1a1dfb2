using System.Diagnostics;
using Npgsql;

namespace Qubrid.Bench;

/// <summary>
/// Spend controls (QUBRID_BENCH_ONLY=spend-controls; prints its figures, writes no report):
/// inference charges at 32 callers on one wallet, plain and with a hold per query (hold, then the charge within it), in
/// the same run on the same silo; and the time from the debit that takes a wallet below its auto top-up threshold to
/// the auto top-up's credit (the two ledger entries' times), over 100 wallets one after another, sandbox gateway.
/// </summary>
public static class SpendControlsBench
{
    public static async Task RunAsync(BenchSettings settings)
    {
        var cs = await Databases.CreateAsync("spend-controls");
        // No platform limit here: these figures are about holds and recharges, not about being refused.
        var hostSettings = new Dictionary<string, string?> { ["Qubrid:Limits:DefaultPerHour"] = "1000000000" };
        await using var host = await SystemHost.StartAsync(cs, hostSettings);
        await host.FundAsync(WalletWorkloads.HotWallet);
        var wallet = host.Client.GetGrain<IWalletGrain>(WalletWorkloads.HotWallet);
        var request = (string key, long? hold) => new InferenceChargeRequest(key, BenchSettings.Model, BenchSettings.InputTokens, BenchSettings.OutputTokens, hold);

        Console.WriteLine("== inference on one wallet, 32 callers: plain, then a hold per query");
        var plain = await LoadRunner.RunAsync("inference", "plain", 32, settings, async (caller, seq) =>
            (await wallet.ChargeInference(request($"p-{caller}-{seq}", null))).Succeeded);
        var held = await LoadRunner.RunAsync("inference", "hold/query", 32, settings, async (caller, seq) =>
        {
            var hold = await wallet.CreateHold(new HoldRequest($"h-{caller}-{seq}", Micros.FromUsd(0.01m), DateTimeOffset.UtcNow.AddMinutes(10), "bench"));
            if (hold.Hold is null || !HoldIds.TryParse(hold.Hold.HoldId, out _, out var number)) return false;
            return (await wallet.ChargeInference(request($"q-{caller}-{seq}", number))).Succeeded;
        });
        Console.WriteLine($"  queries/s with a hold per query: {held.DebitsPerSecond:N0} vs {plain.DebitsPerSecond:N0} plain = {held.DebitsPerSecond / plain.DebitsPerSecond:0.00}×");

        Console.WriteLine("== auto top-up: threshold-crossing debit → credit, 100 wallets one after another (sandbox gateway)");
        await using var db = NpgsqlDataSource.Create(cs);
        var lags = new List<double>();
        var total = Stopwatch.StartNew();
        for (int i = 0; i < 100; i++)
        {
            var id = $"auto-{i}";
            await host.FundAsync(id); // 1,000,000 USD: the threshold is set just under what the debit leaves
            var w = host.Client.GetGrain<IWalletGrain>(id);
            await w.ConfigureAutoTopup(new AutoTopupSettings(true, Micros.FromUsd(1_000_000m), Micros.FromUsd(1_000_010m), "tok_visa", Micros.FromUsd(100m)));
            var debit = await w.Debit(new DebitRequest($"cross-{i}", LedgerEntryKind.PremiumAccess, Micros.FromUsd(1m), "bench"));
            if (!debit.Succeeded) throw new InvalidOperationException($"debit failed: {debit.Detail}");
            var deadline = Stopwatch.StartNew();
            double? lag = null;
            while (lag is null && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await using var cmd = db.CreateCommand(
                    """
                    SELECT extract(epoch FROM (t.at - d.at)) * 1000 FROM qubrid_ledger t, qubrid_ledger d
                    WHERE t.wallet_id = $1 AND t.kind = 'topup' AND t.seq > $2 AND d.wallet_id = $1 AND d.seq = $2
                    """);
                cmd.Parameters.Add(new NpgsqlParameter { Value = id });
                cmd.Parameters.Add(new NpgsqlParameter { Value = debit.Seq!.Value });
                if (await cmd.ExecuteScalarAsync() is decimal ms) lag = (double)ms;
                else await Task.Delay(2);
            }
            lags.Add(lag ?? throw new InvalidOperationException($"no auto top-up credit on {id} within 30 s"));
        }
        lags.Sort();
        double Q(double q) => lags[Math.Min(lags.Count - 1, (int)Math.Ceiling(q * lags.Count) - 1)];
        Console.WriteLine($"  debit → auto top-up credit (ledger times): p50 {Q(0.50):0.0} ms, p99 {Q(0.99):0.0} ms, max {lags[^1]:0.0} ms over {lags.Count} runs ({total.Elapsed.TotalSeconds:0.0} s)");
        var payments = await Databases.ScalarAsync(cs, "SELECT count(*) FROM qubrid_payments WHERE user_id LIKE 'auto-%'");
        Console.WriteLine($"  payments {payments} for 100 crossings (exactly one each: {payments == 100})");
    }
}
