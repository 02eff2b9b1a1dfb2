using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Statements;

/// <summary>
/// Monthly statements against the ledger for seeded random histories that cross month boundaries: opening + Σ lines =
/// closing = balance after the month's last entry (or the opening), and each kind's lines add up to its entries.
/// </summary>
public class StatementTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [Trait("Rule", "R-STMT-1")]
    public async Task A_statement_equals_the_ledger_for_a_random_history_across_month_boundaries(int seed)
    {
        await using var cluster = await BillingCluster.StartAsync(silos: 1);
        var random = new Random(seed);
        var wallet = await cluster.NewWalletAsync($"stmt{seed}");
        var userId = wallet.GetPrimaryKeyString();
        string[] models = ["flux-pro-image", "premium-model-access"];
        for (int step = 0; step < 40; step++)
        {
            cluster.Clock.Advance(TimeSpan.FromMinutes(random.Next(1, 60 * 24 * 4))); // up to 4 days: several months in all
            await wallet.ExpireDueLots();
            var key = $"s{step}";
            var amount = Micros.FromUsd(random.Next(1, 3000) / 100m);
            var result = random.Next(6) switch
            {
                0 => await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Grant, amount, "promo", cluster.Clock.GetUtcNow().AddDays(random.Next(1, 10)))),
                1 => await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Topup, amount, $"pay_{key}")),
                2 => await wallet.Credit(new CreditRequest(key, LedgerEntryKind.Refund, amount, "refund")),
                3 => await wallet.Debit(new DebitRequest(key, LedgerEntryKind.Adjustment, amount, "correction")),
                _ => await wallet.ChargePremium(new PremiumChargeRequest(key, models[random.Next(2)], null)),
            };
            Assert.True(result.Status is WalletOpStatus.Applied or WalletOpStatus.InsufficientCredits, result.Detail);
        }

        var entries = await EntriesAsync(cluster, userId);
        var months = entries.Select(e => (e.At.Year, e.At.Month)).Distinct().ToList();
        Assert.True(months.Count >= 2, "the history spans more than one month");
        var first = new DateTime(months[0].Year, months[0].Month, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var month = first.AddMonths(-1); month <= new DateTime(months[^1].Year, months[^1].Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1); month = month.AddMonths(1))
        {
            var statement = await cluster.Grains.GetGrain<IStatementGrain>(0).Statement(userId, month.Year, month.Month);
            var before = entries.Where(e => e.At < month).ToList();
            var within = entries.Where(e => e.At >= month && e.At < month.AddMonths(1)).ToList();
            long opening = before.Count > 0 ? before[^1].BalanceAfter : 0;
            long closing = within.Count > 0 ? within[^1].BalanceAfter : opening;
            Assert.Equal(opening, statement.Opening.Value);
            Assert.Equal(closing, statement.Closing.Value);
            Assert.Equal(closing, opening + statement.Lines.Sum(l => l.Amount.Value));
            foreach (var kind in within.Select(e => e.Kind).Distinct())
            {
                Assert.Equal(within.Where(e => e.Kind == kind).Sum(e => e.Amount), statement.Lines.Where(l => l.Kind == kind).Sum(l => l.Amount.Value));
                if (kind != "expiration")
                    Assert.Equal(within.Count(e => e.Kind == kind), statement.Lines.Where(l => l.Kind == kind).Sum(l => l.Count));
            }
            Assert.All(statement.Lines.Where(l => l.Kind == "premium_access"), l => Assert.Contains(l.Key, models));
            Assert.All(statement.Lines.Where(l => l.Kind == "expiration"), l => Assert.Equal("promotional", l.Key));
        }
    }

    private sealed record Entry(DateTime At, string Kind, long Amount, long BalanceAfter);

    private static async Task<List<Entry>> EntriesAsync(BillingCluster cluster, string walletId)
    {
        var list = new List<Entry>();
        await using var cmd = cluster.Db.CreateCommand("SELECT at, kind, amount, balance_after FROM qubrid_ledger WHERE wallet_id = $1 ORDER BY seq");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = walletId });
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) list.Add(new Entry(reader.GetDateTime(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3)));
        return list;
    }
}
