using System.Net;
using System.Net.Sockets;
using Npgsql;
using Qubrid.Storage;

namespace Qubrid.Bench;

/// <summary>Fresh databases on the throwaway PostgreSQL that scripts/bench.sh starts (QUBRID_BENCH_PG).</summary>
public static class Databases
{
    public const string ServerVariable = "QUBRID_BENCH_PG";

    public static string Server =>
        Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException($"{ServerVariable} is not set: run the benchmark with scripts/bench.sh.");

    /// <summary>Creates an empty database (migrated unless told otherwise) on the benchmark server, or on the server of
    /// <paramref name="serverConnectionString"/>, and returns its connection string.</summary>
    public static async Task<string> CreateAsync(string name, bool migrate = true, int maxPoolSize = 100, string? serverConnectionString = null)
    {
        var serverCs = serverConnectionString ?? Server;
        await using (var server = NpgsqlDataSource.Create(serverCs))
        await using (var cmd = server.CreateCommand($"CREATE DATABASE \"bench_{name}\""))
        {
            await cmd.ExecuteNonQueryAsync();
        }
        var cs = new NpgsqlConnectionStringBuilder(serverCs) { Database = $"bench_{name}", MaxPoolSize = maxPoolSize }.ConnectionString;
        if (migrate)
        {
            await using var db = NpgsqlDataSource.Create(cs);
            await Migrator.ApplyAsync(db);
        }
        return cs;
    }

    public static async Task<long> ScalarAsync(string cs, string sql)
    {
        await using var db = NpgsqlDataSource.Create(cs);
        await using var cmd = db.CreateCommand(sql);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    public static async Task<string> SettingAsync(string name)
    {
        await using var db = NpgsqlDataSource.Create(Server);
        await using var cmd = db.CreateCommand($"SHOW {name}");
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
