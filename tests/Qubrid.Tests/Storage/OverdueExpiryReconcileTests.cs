using Npgsql;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>Reconcile sees an expiration that never got written, although every read already excludes the lot.</summary>
public class OverdueExpiryReconcileTests
{
    [Fact]
    [Trait("Rule", "R-EXP-3")]
    public async Task A_lot_past_its_expiry_with_credits_left_beyond_the_grace_is_reported()
    {
        await using var db = NpgsqlDataSource.Create(await TestDatabase.CreateAsync("overdue"));
        // A wallet whose promotional lot expired an hour ago and whose expiration entry was never written.
        await TestDatabase.ExecAsync(db, """
            INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version) VALUES ('w', now() - interval '2 days', 5000000, 2, 1);
            INSERT INTO qubrid_lots (wallet_id, lot_id, kind, amount, remaining, granted_at, expires_at, source)
                VALUES ('w', 1, 'promotional', 5000000, 5000000, now() - interval '2 days', now() - interval '1 hour', 'sign-up bonus');
            INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference)
                VALUES ('w', 1, now() - interval '2 days', 'grant', 5000000, 5000000, 'sign-up bonus');
            INSERT INTO qubrid_ledger_lots (wallet_id, seq, lot_id, amount) VALUES ('w', 1, 1, 5000000);
            """);
        var report = await Reconciler.RunAsync(db);
        var violation = Assert.Single(report.Violations);
        Assert.Equal("expirations are written on time", violation.Rule);

        // Within the grace it is not (yet) a finding.
        await TestDatabase.ExecAsync(db, "UPDATE qubrid_lots SET expires_at = now() - interval '1 minute'");
        Assert.True((await Reconciler.RunAsync(db)).IsClean);
    }
}
