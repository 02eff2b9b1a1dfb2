using Qubrid.Promotions;
using Qubrid.ServiceDefaults;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Dashboard;
using Qubrid.Storage;

namespace Qubrid.Silo;

/// <summary>Where this silo listens and which cluster it joins.</summary>
public sealed class SiloOptions
{
    public const string Section = "Qubrid:Silo";

    public string ClusterId { get; set; } = ClusterNames.DefaultClusterId;
    public string ServiceId { get; set; } = ClusterNames.DefaultServiceId;
    public int SiloPort { get; set; } = 11111;
    public int GatewayPort { get; set; } = 30000;
    public string AdvertisedIPAddress { get; set; } = "127.0.0.1";

    /// <summary>Listen on every interface (containers) rather than only the advertised address.</summary>
    public bool ListenOnAnyHostAddress { get; set; }

    /// <summary>HTTP port for /health, /metrics and (when enabled) the Orleans Dashboard.</summary>
    public int HttpPort { get; set; } = 8081;

    /// <summary>Serve the Orleans Dashboard at /dashboard on <see cref="HttpPort"/>.</summary>
    public bool Dashboard { get; set; }

    /// <summary>
    /// The bound on a graceful stop (SIGTERM): the silo stops taking new activations, its wallets finish the batches in
    /// flight, its activations and reminders move to the other silos, and it leaves the membership table; past this the
    /// process exits anyway (the rest is then recovered as after a crash).
    /// </summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>The wiring of a Qubrid silo, shared by the silo host and the test clusters.</summary>
public static class SiloHostingExtensions
{
    public const string StorageName = ClusterNames.GrainStorage;

    /// <summary>How the ledger's connections name themselves to PostgreSQL (pg_stat_activity), unless the connection string says otherwise.</summary>
    public const string LedgerApplicationName = "qubrid-ledger";

    /// <summary>Billing services (options, ledger store, clock) every silo needs.</summary>
    public static IServiceCollection AddQubridBilling(this IServiceCollection services, IConfiguration configuration, string connectionString)
    {
        services.AddOptions<SignupBonusOptions>().Bind(configuration.GetSection(SignupBonusOptions.Section))
            .ValidateDataAnnotations()
            .Validate(o => Micros.TryFromUsd(o.Amount, out _), "Qubrid:SignupBonus:Amount has more than 6 decimals.")
            .Validate(o => o.ValidFor > TimeSpan.Zero, "Qubrid:SignupBonus:ValidFor must be positive.")
            .ValidateOnStart();
        services.AddOptions<WalletOptions>().Bind(configuration.GetSection(WalletOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<LedgerOptions>().Bind(configuration.GetSection(LedgerOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MeteringOptions>().Bind(configuration.GetSection(MeteringOptions.Section))
            .Validate(o => o.ChargeInterval >= TimeSpan.FromSeconds(1) && o.ChargeInterval <= TimeSpan.FromHours(1), "Qubrid:Metering:ChargeInterval must be 1 s to 1 h.")
            .Validate(o => o.MinimumRunway >= TimeSpan.Zero && o.LowBalanceRunway >= TimeSpan.Zero, "Qubrid:Metering runways must not be negative.")
            .ValidateDataAnnotations()
            .Validate(o => o.ShardTickWait > TimeSpan.Zero && o.ShardTickWait <= TimeSpan.FromSeconds(25), "Qubrid:Metering:ShardTickWait must be more than 0 and at most 25 s.")
            .Validate(o => o.Rates.Count > 0 && o.Rates.Values.All(r => r > 0 && Micros.TryFromUsd(r, out _)), "Qubrid:Metering:Rates must be positive USD/h with at most 6 decimals.")
            .ValidateOnStart();
        services.AddOptions<PriceListOptions>().Bind(configuration.GetSection(PriceListOptions.Section))
            .Validate(o => o.Models.Values.All(m => m.InputUsdPerMillion >= 0 && m.OutputUsdPerMillion >= 0), "Qubrid:Prices:Models prices must not be negative.")
            .Validate(o => o.Premium.Values.All(p => p > 0 && Micros.TryFromUsd(p, out _)), "Qubrid:Prices:Premium prices must be positive with at most 6 decimals.")
            .ValidateOnStart();
        // Reminders drive metering: let them tick as often as the charge interval asks (Orleans' default floor is 1 minute).
        var interval = configuration.GetSection(MeteringOptions.Section).Get<MeteringOptions>()?.ChargeInterval ?? TimeSpan.FromMinutes(1);
        services.Configure<ReminderOptions>(o =>
        {
            if (interval < o.MinimumReminderPeriod) o.MinimumReminderPeriod = interval;
        });
        services.AddOptions<SpendLimitOptions>().Bind(configuration.GetSection(SpendLimitOptions.Section)).ValidateDataAnnotations()
            .Validate(o => new[] { o.DefaultPerHour, o.DefaultPerDay, o.DefaultPerMonth }.All(v => v is null || (v >= 0 && Micros.TryFromUsd(v.Value, out _))),
                "Qubrid:Limits defaults must be non-negative USD with at most 6 decimals.")
            .ValidateOnStart();
        services.AddOptions<HoldOptions>().Bind(configuration.GetSection(HoldOptions.Section))
            .Validate(o => o.MaxDuration > TimeSpan.Zero, "Qubrid:Holds:MaxDuration must be positive.").ValidateOnStart();
        services.AddOptions<AutoTopupOptions>().Bind(configuration.GetSection(AutoTopupOptions.Section)).ValidateDataAnnotations()
            .Validate(o => o.RetryAfter >= TimeSpan.Zero, "Qubrid:AutoTopup:RetryAfter must not be negative.").ValidateOnStart();
        services.AddOptions<Payments.TopupOptions>().Bind(configuration.GetSection(Payments.TopupOptions.Section))
            .Validate(o => o.Min > 0 && o.Min <= o.Max && Micros.TryFromUsd(o.Min, out _) && Micros.TryFromUsd(o.Max, out _), "Qubrid:Topup:Min/Max must be 0 < Min ≤ Max.")
            .ValidateOnStart();
        // Auto top-up charges saved cards from the silo, through the same gateway and payment records as the API's top-ups.
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Payments.IPaymentGateway, Payments.SandboxPaymentGateway>();
        // Its payment rows and topup_failed events are billing records: written at the billing clock's time, as the wallet's are.
        services.TryAddSingleton(sp => ActivatorUtilities.CreateInstance<Payments.TopupService>(sp, sp.GetRequiredService<BillingClock>().Time));
        services.TryAddSingleton(BillingClock.System);
        services.TryAddSingleton(_ => CreateDataSource(connectionString));
        services.TryAddSingleton<LedgerStore>();
        services.TryAddSingleton<Refunds.RefundStore>();
        services.AddOptions<Refunds.CardRefundOptions>().Bind(configuration.GetSection(Refunds.CardRefundOptions.Section));
        services.TryAddSingleton<ILedgerStore>(sp => sp.GetRequiredService<LedgerStore>());
        services.TryAddSingleton<IMeteringStore, MeteringStore>();
        services.TryAddSingleton<Organizations.OrganizationStore>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ILifecycleParticipant<ISiloLifecycle>, MeteringShardsStartup>());
        services.AddQubridWebhooks(configuration);
        services.AddQubridPromotions(configuration);
        return services;
    }

    /// <summary>
    /// The silo's own connections. The ledger writer sends the same few statements thousands of times a
    /// second, so Npgsql prepares them automatically (unless the connection string says otherwise).
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString) =>
        BuildDataSource(connectionString, LedgerApplicationName, maxAutoPrepare: 32, resetOnClose: true);

    /// <summary>
    /// A data source whose connections name themselves and prepare their statements automatically, unless the connection
    /// string says otherwise.
    /// </summary>
    private static NpgsqlDataSource BuildDataSource(string connectionString, string applicationName, int maxAutoPrepare, bool resetOnClose)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var given = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (!given.Keys.Cast<string>().Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase)))
            builder.ConnectionStringBuilder.MaxAutoPrepare = maxAutoPrepare;
        builder.ConnectionStringBuilder.ApplicationName ??= applicationName;
        if (!resetOnClose) builder.ConnectionStringBuilder.NoResetOnClose = true;
        return builder.Build();
    }

    /// <summary>The DI key of the connections Orleans' reminder table and grain storage use.</summary>
    public const string OrleansDataSourceKey = "qubrid-orleans";

    /// <summary>
    /// The connections of Orleans' reminder table and grain storage. Those providers take a pooled connection for every
    /// call, and Npgsql resets a returned connection with <c>DISCARD ALL</c>, which also throws away the plans PostgreSQL
    /// cached for the storage's plpgsql function (writetostorage): every grain-state write was planned again, two thirds
    /// of PostgreSQL's time while sessions start (docs/metering-scale.md). The providers set no session state, so the
    /// reset is skipped and their statements are prepared automatically, like the ledger's.
    /// </summary>
    public static NpgsqlDataSource CreateOrleansDataSource(string connectionString) =>
        BuildDataSource(connectionString, "qubrid-orleans", maxAutoPrepare: 16, resetOnClose: false);

    /// <summary>Orleans on PostgreSQL: ADO.NET clustering, reminders and grain storage, all through Npgsql.</summary>
    public static ISiloBuilder UseQubridPostgres(this ISiloBuilder silo, string connectionString)
    {
        silo.AddIncomingGrainCallFilter<StorageFailureFilter>();
        silo.Services.TryAddKeyedSingleton(OrleansDataSourceKey, (_, _) => CreateOrleansDataSource(connectionString));
        silo.UseAdoNetReminderService(o => o.Invariant = "Npgsql");
        silo.Services.AddOptions<AdoNetReminderTableOptions>()
            .Configure<IServiceProvider>((o, sp) => o.DataSource = sp.GetRequiredKeyedService<NpgsqlDataSource>(OrleansDataSourceKey));
        silo.AddAdoNetGrainStorage(StorageName, o =>
        {
            o.Invariant = "Npgsql";
            // A cleared state leaves no row: a session start the wallet refused writes nothing, even the pointer it stored first.
            o.DeleteStateOnClear = true;
        });
        silo.Services.AddOptions<AdoNetGrainStorageOptions>(StorageName)
            .Configure<IServiceProvider>((o, sp) => o.DataSource = sp.GetRequiredKeyedService<NpgsqlDataSource>(OrleansDataSourceKey));
        StorageFailureTranslation.Decorate(silo.Services, StorageName, inner => new StorageFailureTranslation(inner));
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
        // Two releases share the cluster during a rolling upgrade (docs/design.md#versioned-contracts): a call of interface
        // version V may go to an activation of version V or later, and new activations go to any compatible silo.
        // Orleans' defaults, said here so that a change of them is a visible decision.
        silo.Configure<GrainVersioningOptions>(o =>
        {
            o.DefaultCompatibilityStrategy = nameof(Orleans.Versions.Compatibility.BackwardCompatible);
            o.DefaultVersionSelectorStrategy = nameof(Orleans.Versions.Selector.AllCompatibleVersions);
        });
        silo.ConfigureEndpoints(System.Net.IPAddress.Parse(options.AdvertisedIPAddress), options.SiloPort, options.GatewayPort, listenOnAnyHostAddress: options.ListenOnAnyHostAddress);
        // What finalize-upgrade reads to refuse while a previous-release silo is alive.
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloReleaseRegistration>();
        return silo;
    }

    /// <summary>The whole silo: cluster membership, storage, reminders and billing services.</summary>
    public static IHostApplicationBuilder AddQubridSilo(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.RequireConnectionString();
        var siloOptions = builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions();
        var tls = ClusterTlsOptions.From(builder.Configuration);
        // Reachable from other machines without TLS, anyone who reaches the ports could run an Orleans client and call
        // any grain: that takes an explicit Qubrid:Tls:Enabled=false.
        if (siloOptions.ListenOnAnyHostAddress && !tls.IsEnabled && tls.Enabled is null)
            throw new InvalidOperationException(
                "Qubrid:Silo:ListenOnAnyHostAddress is true but cluster TLS is not configured: set Qubrid:Tls:CertificatePath, " +
                "Qubrid:Tls:KeyPath and Qubrid:Tls:CaPath (or Qubrid:Tls:Enabled=false to accept unauthenticated connections).");
        builder.Services.AddQubridBilling(builder.Configuration, connectionString);
        builder.UseOrleans(silo =>
        {
            silo.UseQubridClustering(connectionString, siloOptions);
            silo.UseQubridTls(builder.Configuration);
            silo.UseQubridPostgres(connectionString);
            silo.UseReminderHandover();
            silo.AddActivityPropagation();
            if (siloOptions.Dashboard) silo.AddDashboard();
        });
        // Failure detection: a silo that misses 3 probes of 2 s is declared dead (Orleans' default is 3 × 5 s), so a
        // dead silo's sessions move on within seconds. Qubrid:Membership overrides any ClusterMembershipOptions member.
        builder.Services.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 3;
        });
        builder.Services.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Qubrid:Membership"));
        if (siloOptions.ShutdownTimeout <= TimeSpan.Zero || siloOptions.ShutdownTimeout > TimeSpan.FromMinutes(10))
            throw new InvalidOperationException("Qubrid:Silo:ShutdownTimeout must be more than 0 and at most 10 minutes.");
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = siloOptions.ShutdownTimeout);
        // Each activation's deactivation (a wallet finishing its batches) fits within the stop's bound with room to spare for
        // the stages after it (leaving the membership table, handing over the reminders): a wallet stuck in a commit must
        // not turn a graceful stop into what the others see as a crash.
        var deactivationBound = siloOptions.ShutdownTimeout * 0.6;
        builder.Services.Configure<GrainCollectionOptions>(o =>
        {
            if (o.DeactivationTimeout > deactivationBound) o.DeactivationTimeout = deactivationBound;
        });
        return builder;
    }

    /// <summary>
    /// Applies the schema migrations; run before the silo joins the cluster. With a logger, a PostgreSQL that is not
    /// reachable or not accepting connections yet (starting, database not created yet) is waited for — a log line
    /// and an exponential back-off capped at 5 s — instead of the silo exiting; other errors (a wrong password, a
    /// failing migration) stop it.
    /// </summary>
    public static async Task MigrateAsync(string connectionString, ILogger? logger = null, CancellationToken ct = default)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Migrator.ApplyAsync(dataSource, ct);
                if (attempt > 1) logger?.LogInformation("PostgreSQL answered; the schema is up to date");
                return;
            }
            catch (NpgsqlException e) when (logger is not null && IsNotReadyYet(e) && !ct.IsCancellationRequested)
            {
                var delay = TimeSpan.FromMilliseconds(Math.Min(5000, 250 * Math.Pow(2, Math.Min(attempt, 10))));
                logger.LogWarning("Waiting for PostgreSQL before applying the migrations: {Reason}; attempt {Attempt}, next in {DelaySeconds:0.#} s",
                    e.Message, attempt, delay.TotalSeconds);
                NpgsqlConnection.ClearAllPools();
                await Task.Delay(delay, ct);
            }
        }
    }

    /// <summary>Not reachable, starting up, shutting down, out of connections, or the database not created yet.</summary>
    public static bool IsNotReadyYet(NpgsqlException e) => e is not PostgresException pg
        || pg.SqlState is PostgresErrorCodes.CannotConnectNow or PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.TooManyConnections
            or PostgresErrorCodes.AdminShutdown or PostgresErrorCodes.CrashShutdown
        || pg.SqlState.StartsWith("08", StringComparison.Ordinal);
}
