using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Qubrid.Silo;

namespace Qubrid.Tests.Infrastructure;

/// <summary>Real silo hosts with the production wiring (<see cref="SiloHostingExtensions.AddQubridSilo"/>), on loopback ports.</summary>
public static class SiloHosts
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <param name="services">Registrations made before the production wiring, which keeps them (a test's clocks).</param>
    /// <param name="migrate">False: the schema stays as it is (a database as a previous release left it).</param>
    public static async Task<IHost> StartAsync(string connectionString, string clusterId, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null, bool migrate = true)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Qubrid"] = connectionString,
            ["Qubrid:Silo:ClusterId"] = clusterId,
            ["Qubrid:Silo:SiloPort"] = FreePort().ToString(),
            ["Qubrid:Silo:GatewayPort"] = FreePort().ToString(),
        });
        if (settings is not null) builder.Configuration.AddInMemoryCollection(settings);
        services?.Invoke(builder.Services);
        builder.AddQubridSilo();
        var host = builder.Build();
        if (migrate) await SiloHostingExtensions.MigrateAsync(connectionString);
        await host.StartAsync();
        return host;
    }
}
