using Npgsql;
using Qubrid.Storage;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// A fresh, migrated database on the throwaway PostgreSQL that <c>scripts/test.sh</c> starts
/// (its connection string arrives in QUBRID_TEST_PG). Never a mock.
/// </summary>
public static class TestDatabase
{
    public const string ServerVariable = "QUBRID_TEST_PG";

    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                $"{ServerVariable} is not set. Run the tests with scripts/test.sh, which starts a throwaway PostgreSQL and sets it.");

    /// <summary>Creates an empty database, applies the migrations, returns its connection string.</summary>
    public static async Task<string> CreateAsync(string purpose, bool migrate = true)
    {
        var name = $"qt_{purpose}_{Guid.NewGuid():N}".ToLowerInvariant();
        name = name[..Math.Min(name.Length, 48)];
        await using (var server = NpgsqlDataSource.Create(ServerConnectionString))
        await using (var cmd = server.CreateCommand($"CREATE DATABASE \"{name}\""))
        {
            await cmd.ExecuteNonQueryAsync();
        }
        var cs = new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name, MaxPoolSize = 60 }.ConnectionString;
        if (migrate)
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await Migrator.ApplyAsync(db);
        }
        return cs;
    }

    public static async Task<long> ScalarAsync(NpgsqlDataSource db, string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public static async Task<string?> ScalarTextAsync(NpgsqlDataSource db, string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        return await cmd.ExecuteScalarAsync() as string;
    }

    public static async Task ExecAsync(NpgsqlDataSource db, string sql, params object[] args)
    {
        await using var cmd = db.CreateCommand(sql);
        foreach (var a in args) cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        await cmd.ExecuteNonQueryAsync();
    }
}
