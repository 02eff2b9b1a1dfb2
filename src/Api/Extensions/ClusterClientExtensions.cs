using Qubrid.ServiceDefaults;
using Npgsql;
using Orleans.Configuration;

namespace Qubrid.Api.Extensions;

/// <summary>The API is an Orleans client: it finds the silos through the PostgreSQL membership table.</summary>
public static class ClusterClientExtensions
{
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
