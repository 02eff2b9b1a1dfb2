using Microsoft.Extensions.Configuration;

namespace Qubrid.ServiceDefaults;

/// <summary>The PostgreSQL connection string every Qubrid process needs; there is no in-memory fallback.</summary>
public static class ConnectionStrings
{
    public const string Name = "Qubrid";

    /// <summary>Reads ConnectionStrings:Qubrid or stops with a message that says how to set it.</summary>
    public static string RequireConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString(Name) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "No PostgreSQL connection string: set ConnectionStrings:Qubrid, e.g. the environment variable " +
                "ConnectionStrings__Qubrid=\"Host=127.0.0.1;Port=5432;Database=qubrid;Username=qubrid;Password=...\". " +
                "Qubrid never falls back to in-memory storage.");
}
