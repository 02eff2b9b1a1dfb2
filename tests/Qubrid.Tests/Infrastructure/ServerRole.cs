using Npgsql;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// Plays a failover on one test database without a second server: <see cref="DemoteAsync"/> makes it answer as a
/// former primary that came back read-only (every new session read-only, the open ones cut, as a restart cuts them),
/// <see cref="PromoteAsync"/> makes it writable again, as the new primary would be. Connections opened while it was
/// read-only stay read-only: only a client that drops them and connects again can write.
/// </summary>
public static class ServerRole
{
    public static async Task DemoteAsync(string connectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using var server = NpgsqlDataSource.Create(TestDatabase.ServerConnectionString);
        await ExecAsync(server, $"ALTER DATABASE \"{database}\" SET default_transaction_read_only = on");
        await ExecAsync(server, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()");
    }

    public static async Task PromoteAsync(string connectionString)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using var server = NpgsqlDataSource.Create(TestDatabase.ServerConnectionString);
        await ExecAsync(server, $"ALTER DATABASE \"{database}\" RESET default_transaction_read_only");
    }

    private static async Task ExecAsync(NpgsqlDataSource db, string sql)
    {
        await using var cmd = db.CreateCommand(sql);
        await cmd.ExecuteNonQueryAsync();
    }
}
