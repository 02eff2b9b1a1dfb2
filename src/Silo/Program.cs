using Orleans.Dashboard;
using Qubrid.ServiceDefaults;

namespace Qubrid.Silo;

/// <summary>The silo process: joins the cluster through PostgreSQL; also serves /health, /metrics and the dashboard. <c>reconcile</c> checks the ledger; <c>finalize-upgrade</c> finalizes a rolling upgrade.</summary>
public static class SiloProgram
{
    public static async Task<int> Main(string[] args)
    {
        if (args is ["reconcile", ..])
        {
            var configuration = Host.CreateApplicationBuilder(args[1..]).Configuration;
            return await ReconcileCommand.RunAsync(configuration, Console.Out);
        }

        if (args is ["finalize-upgrade", ..])
        {
            var configuration = Host.CreateApplicationBuilder(args[1..]).Configuration;
            return await FinalizeUpgradeCommand.RunAsync(configuration, Console.Out);
        }

        if (args is ["tls", "create", var directory, ..])
        {
            // Local certificates for cluster TLS (scripts/start.sh, scripts/cluster.sh, the compose tls-init step).
            var created = ClusterTls.CreateLocal(directory);
            Console.WriteLine(created ? $"Created a local CA and a cluster certificate in {directory}" : $"Keeping the certificates in {directory}");
            return 0;
        }

        // appsettings.json from the binaries' folder, whatever the working directory (see ContentRoot).
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = ContentRoot.For(args) });
        string connectionString;
        try
        {
            connectionString = builder.Configuration.RequireConnectionString();
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        var silo = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        try
        {
            builder.AddQubridSilo();
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        builder.AddQubridTelemetry("qubrid-silo");
        builder.Services.AddQubridHealthChecks();
        builder.WebHost.UseUrls($"http://{(silo.ListenOnAnyHostAddress ? "0.0.0.0" : silo.AdvertisedIPAddress)}:{silo.HttpPort}");

        var app = builder.Build();
        // A silo that is not ready answers 500 with no body, as it always has (the failed query used to escape the handler).
        app.MapQubridHealth(_ => TypedResults.StatusCode(StatusCodes.Status500InternalServerError));
        app.MapQubridMetrics();
        if (silo.Dashboard) app.MapOrleansDashboard("/dashboard");

        await SiloHostingExtensions.MigrateAsync(connectionString, app.Logger);
        await app.RunAsync();
        return 0;
    }
}
