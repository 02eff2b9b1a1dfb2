using Qubrid.Core;

namespace Qubrid;

/// <summary>The calls an organization makes on its wallet (the same activation as the wallet's own calls).</summary>
public sealed partial class WalletGrain : IOrganizationWalletGrain
{
    public async Task<CreateWalletResult> CreateWithoutBonus()
    {
        var result = (await Enqueue(new CreateWallet { WithoutBonus = true })).Wallet!;
        return new CreateWalletResult(!result.Replayed, Book!.ToBalance(clock.UtcNow));
    }

    /// <summary>Usage by member and project, summed from the usage rows the ledger groups in SQL.</summary>
    public async Task<IReadOnlyList<TeamSpendRow>?> GetTeamSpend(DateTimeOffset from, DateTimeOffset to)
    {
        if (Book is null) return null;
        var rows = await store.ReadUsageAsync(WalletId, new UsageQuery(from, to));
        return rows.GroupBy(r => (r.MemberId, r.ProjectId))
            .Select(g => new TeamSpendRow(g.Key.MemberId, g.Key.ProjectId, g.Aggregate(Micros.Zero, (sum, r) => sum + r.Amount)))
            .ToList();
    }
}
