using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Qubrid.ServiceDefaults;

/// <summary>Ready only when PostgreSQL answers a query within 5 s: without it no money moves.</summary>
public sealed class DatabaseHealthCheck(NpgsqlDataSource db) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            await using var cmd = db.CreateCommand("SELECT 1");
            await cmd.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            // What is wrong, in words of our own: an exception's text may name hosts, users or internals.
            var what = e switch
            {
                PostgresException pg => $"The database refused the check query (SQLSTATE {pg.SqlState}).",
                OperationCanceledException or TimeoutException or NpgsqlException { InnerException: TimeoutException } => "The database did not answer within 5 s.",
                _ => "The database cannot be reached.",
            };
            return HealthCheckResult.Unhealthy(what, e);
        }
    }
}
