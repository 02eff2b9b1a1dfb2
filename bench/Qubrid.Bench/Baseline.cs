using Npgsql;

namespace Qubrid.Bench;

/// <summary>
/// The naive implementation the system is measured against: written directly with Npgsql, one
/// database transaction per debit (UPDATE the balance with a not-below-zero check, INSERT the ledger
/// row with its idempotency key), same PostgreSQL, same durability.
/// </summary>
public sealed class Baseline : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;

    private Baseline(NpgsqlDataSource db) => _db = db;

    public static async Task<Baseline> CreateAsync(string connectionString, IReadOnlyList<string> walletIds)
    {
        var db = NpgsqlDataSource.Create(connectionString);
        await CreateTablesAsync(db, walletIds);
        return new Baseline(db);
    }

    /// <summary>The naive schema (a balance row per wallet, a ledger with unique idempotency keys), every wallet funded.</summary>
    public static async Task CreateTablesAsync(NpgsqlDataSource db, IReadOnlyList<string> walletIds)
    {
        await using (var cmd = db.CreateCommand(
            """
            CREATE TABLE naive_wallets (
                wallet_id text PRIMARY KEY,
                balance   bigint NOT NULL CHECK (balance >= 0));
            CREATE TABLE naive_ledger (
                id              bigserial   PRIMARY KEY,
                wallet_id       text        NOT NULL REFERENCES naive_wallets (wallet_id),
                at              timestamptz NOT NULL,
                kind            text        NOT NULL,
                amount          bigint      NOT NULL,
                balance_after   bigint      NOT NULL,
                idempotency_key text        NOT NULL,
                UNIQUE (wallet_id, idempotency_key));
            """))
        {
            await cmd.ExecuteNonQueryAsync();
        }
        await using (var cmd = db.CreateCommand(
            "INSERT INTO naive_wallets (wallet_id, balance) SELECT id, $1 FROM unnest($2::text[]) AS id"))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = (long)(BenchSettings.WalletFundsUsd * Micros.PerUsd) });
            cmd.Parameters.Add(new NpgsqlParameter { Value = walletIds.ToArray() });
            await cmd.ExecuteNonQueryAsync();
        }
    }

    /// <summary>One debit in one transaction; false when the balance would go below zero.</summary>
    public async Task<bool> DebitAsync(string walletId, string idempotencyKey, long amountMicros)
    {
        await using var conn = await _db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        long balanceAfter;
        await using (var update = new NpgsqlCommand(
            "UPDATE naive_wallets SET balance = balance - $2 WHERE wallet_id = $1 AND balance >= $2 RETURNING balance", conn, tx))
        {
            update.Parameters.Add(new NpgsqlParameter { Value = walletId });
            update.Parameters.Add(new NpgsqlParameter { Value = amountMicros });
            if (await update.ExecuteScalarAsync() is not long after)
            {
                await tx.RollbackAsync();
                return false;
            }
            balanceAfter = after;
        }
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO naive_ledger (wallet_id, at, kind, amount, balance_after, idempotency_key) VALUES ($1, now(), 'inference_charge', $2, $3, $4)",
            conn, tx))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = walletId });
            insert.Parameters.Add(new NpgsqlParameter { Value = -amountMicros });
            insert.Parameters.Add(new NpgsqlParameter { Value = balanceAfter });
            insert.Parameters.Add(new NpgsqlParameter { Value = idempotencyKey });
            await insert.ExecuteNonQueryAsync();
        }
        await tx.CommitAsync();
        return true;
    }

    public async Task<long> LedgerRowsAsync()
    {
        await using var cmd = _db.CreateCommand("SELECT count(*) FROM naive_ledger");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();
}
