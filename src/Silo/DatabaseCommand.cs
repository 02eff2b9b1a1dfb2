using Qubrid.ServiceDefaults;

namespace Qubrid.Silo;

/// <summary>What the silo's database commands (<c>reconcile</c>, <c>finalize-upgrade</c>) share.</summary>
internal static class DatabaseCommand
{
    /// <summary>Exit code of a command that has no connection string to run against.</summary>
    public const int NotConfigured = 2;

    /// <summary>The connection string to run against, or null after saying why there is none.</summary>
    public static async Task<string?> ConnectionStringAsync(Microsoft.Extensions.Configuration.IConfiguration configuration, TextWriter output)
    {
        try
        {
            return configuration.RequireConnectionString();
        }
        catch (InvalidOperationException e)
        {
            await output.WriteLineAsync(e.Message);
            return null;
        }
    }
}
