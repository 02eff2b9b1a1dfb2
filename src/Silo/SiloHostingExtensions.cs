using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Orleans.Configuration;
using Qubrid.Storage;

namespace Qubrid.Silo;

/// <summary>Where this silo listens and which cluster it joins.</summary>
public sealed class SiloOptions
{
    public const string Section = "Qubrid:Silo";

    public string ClusterId { get; set; } = "qubrid";
    public string ServiceId { get; set; } = "qubrid";
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";
}

/// <summary>The wiring of a Qubrid silo, shared by the silo host and the test clusters.</summary>
public static class SiloHostingExtensions
{
    public const string StorageName = "qubrid";
    public const string ConnectionStringName = "Qubrid";

    /// <summary>Reads ConnectionStrings:Qubrid or stops with a message that says how to set it.</summary>
    public static string RequireConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString(ConnectionStringName) is { Length: > 0 } cs
            ? cs
            : throw new InvalidOperationException(
                "No PostgreSQL connection string: set ConnectionStrings:Qubrid, e.g. the environment variable " +
                "ConnectionStrings__Qubrid=\"Host=127.0.0.1;Port=5432;Database=qubrid;Username=qubrid;Password=...\". " +
                "Qubrid never falls back to in-memory storage.");

    /// <summary>Billing services (options, ledger store, clock) every silo needs.</summary>
    public static IServiceCollection AddQubridBilling(this IServiceCollection services, IConfiguration configuration, string connectionString)
    {
        services.AddOptions<SignupBonusOptions>().Bind(configuration.GetSection(SignupBonusOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => Micros.TryFromUsd(o.Amount, out _), "Qubrid:SignupBonus:Amount has more than 6 decimals.")
            .Validate(o => o.ValidFor > TimeSpan.Zero, "Qubrid:SignupBonus:ValidFor must be positive.")
            .ValidateOnStart();
        services.AddOptions<WalletOptions>().Bind(configuration.GetSection(WalletOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddSingleton(BillingClock.System);
        services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.TryAddSingleton<LedgerStore>();
        return services;
    }

    /// <summary>Orleans on PostgreSQL: ADO.NET clustering, reminders and grain storage, all through Npgsql.</summary>
    public static ISiloBuilder UseQubridPostgres(this ISiloBuilder silo, string connectionString)
    {
        silo.UseAdoNetReminderService(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        silo.AddAdoNetGrainStorage(StorageName, o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        return silo;
    }

    public static ISiloBuilder UseQubridClustering(this ISiloBuilder silo, string connectionString, SiloOptions options)
    {
        silo.UseAdoNetClustering(o =>
        {
            o.Invariant = "Npgsql";
            o.ConnectionString = connectionString;
        });
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = options.ClusterId;
            o.ServiceId = options.ServiceId;
        });
        silo.ConfigureEndpoints(System.Net.IPAddress.Parse(options.AdvertisedIPAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: false);
        return silo;
    }

    /// <summary>The whole silo: cluster membership, storage, reminders and billing services.</summary>
    public static IHostApplicationBuilder AddQubridSilo(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.RequireConnectionString();
        var siloOptions = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        builder.Services.AddQubridBilling(builder.Configuration, connectionString);
        builder.UseOrleans(silo =>
        {
            silo.UseQubridClustering(connectionString, siloOptions);
            silo.UseQubridPostgres(connectionString);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }

    /// <summary>Applies the schema migrations; run before the silo joins the cluster.</summary>
    public static async Task MigrateAsync(string connectionString, CancellationToken ct = default)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await Migrator.ApplyAsync(dataSource, ct);
    }
}
