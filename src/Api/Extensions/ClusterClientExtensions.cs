using Npgsql;
using Orleans.Configuration;

namespace Qubrid.Api.Extensions;

/// <summary>The API is an Orleans client: it finds the silos through the PostgreSQL membership table.</summary>
public static class ClusterClientExtensions
{
    public static string RequireConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString("Qubrid") is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "No PostgreSQL connection string: set ConnectionStrings:Qubrid, e.g. the environment variable " +
                "ConnectionStrings__Qubrid=\"Host=127.0.0.1;Port=5432;Database=qubrid;Username=qubrid;Password=...\". " +
                "Qubrid never falls back to in-memory storage.");

    public static WebApplicationBuilder AddQubridClusterClient(this WebApplicationBuilder builder, string connectionString)
    {
        var clusterId = builder.Configuration["Qubrid:Silo:ClusterId"] ?? "qubrid";
        var serviceId = builder.Configuration["Qubrid:Silo:ServiceId"] ?? "qubrid";
        builder.Services.AddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            client.AddActivityPropagation();
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
