using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Bench;

/// <summary>
/// The naive ledger done competently, as pgbench does it: each caller keeps one connection open for the whole
/// run (no pool round trip and no <c>DISCARD ALL</c> per debit) with its two statements prepared once on it
/// (<see cref="NpgsqlCommand.Prepare"/>), and one transaction per debit: BEGIN; UPDATE the balance with a
/// not-below-zero check, RETURNING it; INSERT the ledger row with its unique idempotency key; COMMIT.
/// Same schema, PostgreSQL and durability as <see cref="Baseline"/>.
/// </summary>
public sealed class PreparedBaseline : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;

    private PreparedBaseline(NpgsqlDataSource db) => _db = db;

    public static async Task<PreparedBaseline> CreateAsync(string connectionString, IReadOnlyList<string> walletIds)
    {
        var db = NpgsqlDataSource.Create(connectionString);
        await Baseline.CreateTablesAsync(db, walletIds);
        return new PreparedBaseline(db);
    }

    /// <summary>One open connection per caller, its statements prepared; disposing closes them.</summary>
    public async Task<Callers> OpenCallersAsync(int count)
    {
        var callers = new Callers(count);
        try
        {
            for (int i = 0; i < count; i++) callers.Set(i, await Caller.OpenAsync(_db));
        }
        catch
        {
            await callers.DisposeAsync();
            throw;
        }
        return callers;
    }

    public async Task<long> LedgerRowsAsync()
    {
        await using var cmd = _db.CreateCommand("SELECT count(*) FROM naive_ledger");
        return (long)(await cmd.ExecuteScalarAsync())!;
    }

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    /// <summary>The connections of one run's callers: caller i only ever uses connection i.</summary>
    public sealed class Callers(int count) : IAsyncDisposable
    {
        private readonly Caller?[] _callers = new Caller?[count];

        internal void Set(int index, Caller caller) => _callers[index] = caller;

        /// <summary>One debit in one transaction on the caller's own connection; false when the balance would go below zero.</summary>
        public Task<bool> DebitAsync(int caller, string walletId, string idempotencyKey, long amountMicros) =>
            _callers[caller]!.DebitAsync(walletId, idempotencyKey, amountMicros);

        public async ValueTask DisposeAsync()
        {
            foreach (var caller in _callers)
            {
                if (caller is not null) await caller.DisposeAsync();
            }
        }
    }

    internal sealed class Caller : IAsyncDisposable
    {
        private readonly NpgsqlConnection _conn;
        private readonly NpgsqlCommand _update;
        private readonly NpgsqlCommand _insert;
        private readonly NpgsqlParameter<string> _updateWallet = new() { NpgsqlDbType = NpgsqlDbType.Text };
        private readonly NpgsqlParameter<long> _updateAmount = new() { NpgsqlDbType = NpgsqlDbType.Bigint };
        private readonly NpgsqlParameter<string> _insertWallet = new() { NpgsqlDbType = NpgsqlDbType.Text };
        private readonly NpgsqlParameter<long> _insertAmount = new() { NpgsqlDbType = NpgsqlDbType.Bigint };
        private readonly NpgsqlParameter<long> _insertBalance = new() { NpgsqlDbType = NpgsqlDbType.Bigint };
        private readonly NpgsqlParameter<string> _insertKey = new() { NpgsqlDbType = NpgsqlDbType.Text };

        private Caller(NpgsqlConnection conn)
        {
            _conn = conn;
            _update = new NpgsqlCommand(
                "UPDATE naive_wallets SET balance = balance - $2 WHERE wallet_id = $1 AND balance >= $2 RETURNING balance", conn)
            {
                Parameters = { _updateWallet, _updateAmount },
            };
            _insert = new NpgsqlCommand(
                "INSERT INTO naive_ledger (wallet_id, at, kind, amount, balance_after, idempotency_key) VALUES ($1, now(), 'inference_charge', $2, $3, $4)", conn)
            {
                Parameters = { _insertWallet, _insertAmount, _insertBalance, _insertKey },
            };
        }

        public static async Task<Caller> OpenAsync(NpgsqlDataSource db)
        {
            var conn = await db.OpenConnectionAsync();
            var caller = new Caller(conn);
            try
            {
                await caller._update.PrepareAsync();
                await caller._insert.PrepareAsync();
            }
            catch
            {
                await caller.DisposeAsync();
                throw;
            }
            return caller;
        }

        public async Task<bool> DebitAsync(string walletId, string idempotencyKey, long amountMicros)
        {
            // BEGIN travels with the UPDATE (Npgsql prepends it): three round trips per debit, UPDATE, INSERT, COMMIT.
            await using var tx = await _conn.BeginTransactionAsync();
            _update.Transaction = tx;
            _updateWallet.TypedValue = walletId;
            _updateAmount.TypedValue = amountMicros;
            if (await _update.ExecuteScalarAsync() is not long balanceAfter)
            {
                await tx.RollbackAsync();
                return false;
            }
            _insert.Transaction = tx;
            _insertWallet.TypedValue = walletId;
            _insertAmount.TypedValue = -amountMicros;
            _insertBalance.TypedValue = balanceAfter;
            _insertKey.TypedValue = idempotencyKey;
            await _insert.ExecuteNonQueryAsync();
            await tx.CommitAsync();
            return true;
        }

        public async ValueTask DisposeAsync()
        {
            await _update.DisposeAsync();
            await _insert.DisposeAsync();
            await _conn.DisposeAsync();
        }
    }
}
