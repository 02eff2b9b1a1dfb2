using Qubrid.ServiceDefaults;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;

namespace Qubrid.Api.Extensions;

/// <summary>The API is an Orleans client: it finds the silos through the PostgreSQL membership table.</summary>
public static class ClusterClientExtensions
{
    public static WebApplicationBuilder AddQubridClusterClient(this WebApplicationBuilder builder, string connectionString)
    {
        var clusterId = builder.Configuration["Qubrid:Silo:ClusterId"] ?? ClusterNames.DefaultClusterId;
        var serviceId = builder.Configuration["Qubrid:Silo:ServiceId"] ?? ClusterNames.DefaultServiceId;
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            // Mutual TLS to the gateways when Qubrid:Tls is configured (the silos' settings: same CA).
            client.UseQubridTls(builder.Configuration);
            client.AddActivityPropagation();
            client.UseConnectionRetryFilter<WaitForTheCluster>();
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(10));
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = serviceId;
            });
        });
        return builder;
    }
}

/// <summary>
/// The API may start before PostgreSQL, before a silo has created the schema, or before any silo is up (a busy
/// machine, containers, a restart in any order). Its first connection to the cluster is retried until it
/// succeeds — with a log line saying what is missing and an exponential back-off capped at 5 s — instead of
/// the process exiting. Only the host stopping ends the wait.
/// </summary>
public sealed partial class WaitForTheCluster(ILogger<WaitForTheCluster> logger) : IClientConnectionRetryFilter
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);
    private int _attempt;

    public async Task<bool> ShouldRetryConnectionAttempt(Exception exception, CancellationToken cancellationToken)
    {
        _attempt++;
        var delay = TimeSpan.FromMilliseconds(Math.Min(MaxDelay.TotalMilliseconds, 250 * Math.Pow(2, Math.Min(_attempt, 10))));
        LogWaiting(logger, Reason(exception), _attempt, delay.TotalSeconds);
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        return true;
    }

    /// <summary>What the cluster is still missing, in words.</summary>
    public static string Reason(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException { SqlState: PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedFunction }:
                    return "the schema is not there yet (the first silo creates it)";
                case PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.CannotConnectNow }:
                    return $"PostgreSQL is not ready yet ({e.Message})";
                case PostgresException:
                    return $"PostgreSQL answered: {e.Message}";
                case NpgsqlException:
                    return $"PostgreSQL is not reachable yet ({e.Message})";
                case SiloUnavailableException:
                    return "no silo is active yet";
                case System.Security.Authentication.AuthenticationException:
                    return $"the TLS handshake with a gateway failed ({e.Message}): Qubrid:Tls must name a certificate from the silos' CA";
            }
        }
        return $"{exception.GetType().Name}: {exception.Message}";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Waiting for the cluster: {Reason}; attempt {Attempt}, next in {DelaySeconds:0.#} s")]
    private static partial void LogWaiting(ILogger logger, string reason, int attempt, double delaySeconds);
}
