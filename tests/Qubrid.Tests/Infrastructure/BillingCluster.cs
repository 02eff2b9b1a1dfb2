using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Reminders;
using Orleans.TestingHost;
using Qubrid.Silo;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// An in-process cluster of real silos on a fresh PostgreSQL database: the project's own silo wiring
/// (ADO.NET reminders and storage, the ledger) with one clock, <see cref="Clock"/>, that moves only when the test moves it.
/// <para>
/// That clock is the billing clock and the reminders' clock (the keyed <see cref="TimeProvider"/>
/// <see cref="ReminderTimeProviderNames.Reminders"/>): a reminder is registered at the clock's time and fires when the
/// test moves the clock past its due time, and only then (<see cref="ReminderTicks.AdvanceAsync"/> moves it and waits for
/// the tick). Orleans' membership, messaging and grain timers keep real time. A test may also drive billing time by moving
/// the clock and calling the grain itself (<c>ISessionGrain.Tick</c>, <c>IWalletGrain.ExpireDueLots</c>, or
/// <see cref="FireRemindersAsync"/>).
/// </para>
/// </summary>
public class BillingCluster : IAsyncLifetime, IAsyncDisposable
{
    public const decimal SignupBonusUsd = 5m;
    private readonly short _silos;
    private readonly Dictionary<string, string?> _settings;

    public BillingCluster() : this(2) { }

    private readonly Action<IServiceCollection>? _services;

    private readonly bool _realTimeReminders;

    internal BillingCluster(short silos, Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null, bool realTimeReminders = false)
    {
        _silos = silos;
        _services = services;
        _realTimeReminders = realTimeReminders;
        _settings = new Dictionary<string, string?>
        {
            ["Qubrid:SignupBonus:Amount"] = SignupBonusUsd.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Qubrid:SignupBonus:ValidFor"] = "30.00:00:00",
        };
        foreach (var (k, v) in settings ?? []) _settings[k] = v;
    }

    public InProcessTestCluster Cluster { get; private set; } = null!;
    /// <summary>
    /// The billing and reminders' clock, starting at the real time the cluster was made (so the database's own now() agrees
    /// with it), on a whole second (so that times moved by whole units stay whole, microseconds included).
    /// </summary>
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource Db { get; private set; } = null!;
    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        ConnectionString = await TestDatabase.CreateAsync("cluster");
        Db = NpgsqlDataSource.Create(ConnectionString);
        Cluster = Build();
        await Cluster.DeployAsync();
    }

    /// <summary>Stops every silo and starts a whole new cluster on the same database.</summary>
    public async Task RestartAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        Cluster = Build();
        await Cluster.DeployAsync();
    }

    private InProcessTestCluster Build()
    {
        var builder = new InProcessTestClusterBuilder(_silos);
        var cs = ConnectionString;
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(_settings);
            host.Services.AddSingleton(new BillingClock(Clock));
            if (_realTimeReminders) host.Services.Configure<ReminderOptions>(o => o.RefreshReminderListPeriod = TimeSpan.FromSeconds(1));
            else host.Services.AddTestReminderClock(Clock);
            _services?.Invoke(host.Services);
            host.Services.AddQubridBilling(host.Configuration, cs);
            host.Services.Configure<ReminderOptions>(o =>
            {
                o.MinimumReminderPeriod = TimeSpan.FromMilliseconds(200);
                o.InitializationTimeout = TimeSpan.FromSeconds(30);
            });
        });
        builder.ConfigureSilo((_, silo) => silo.UseQubridPostgres(cs));
        return builder.Build();
    }

    public async Task DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await Db.DisposeAsync();
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    /// <summary>
    /// A cluster owned by one test (for tests that move the clock or restart it). <paramref name="realTimeReminders"/> keeps
    /// Orleans' reminders on real time, for a test whose subject is something a reminder does by itself on real time
    /// (a webhook endpoint's keep-alive moving it to another silo).
    /// </summary>
    public static async Task<BillingCluster> StartAsync(short silos = 1, Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null,
        bool realTimeReminders = false)
    {
        var cluster = new BillingCluster(silos, settings, services, realTimeReminders);
        await cluster.InitializeAsync();
        return cluster;
    }

    public IWalletGrain Wallet(string id) => Grains.GetGrain<IWalletGrain>(id);

    /// <summary>A wallet created (with its sign-up bonus) under a name unique to this test.</summary>
    public async Task<IWalletGrain> NewWalletAsync(string purpose)
    {
        var wallet = Wallet($"{purpose}-{Guid.NewGuid():N}");
        await wallet.Create();
        return wallet;
    }

    /// <summary>
    /// Delivers each reminder the grain has in the reminder table once, now, through the grain's reminder entry point
    /// (<see cref="IRemindable.ReceiveReminder"/>), as the reminder service would: a tick without waiting for real time.
    /// </summary>
    public async Task FireRemindersAsync(IAddressable grain)
    {
        var table = Cluster.Silos.First(s => s.IsActive).ServiceProvider.GetRequiredService<IReminderTable>();
        var rows = await table.ReadRows(grain.GetGrainId());
        Assert.NotEmpty(rows.Reminders);
        foreach (var row in rows.Reminders)
            await grain.AsReference<IRemindable>().ReceiveReminder(row.ReminderName, new TickStatus(row.StartAt, row.Period, Clock.GetUtcNow().UtcDateTime));
    }

    public Task<long> LedgerRowsAsync(string walletId) =>
        TestDatabase.ScalarAsync(Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", walletId);
}

/// <summary>The test silos' reminders on the test's clock.</summary>
public static class TestReminderClock
{
    /// <summary>
    /// Runs the reminder service on <paramref name="clock"/>: registrations (a reminder's first tick is the clock's time plus
    /// its due time), the wait for each tick, and the periodic re-read of the reminder table. Every reminder is kept loaded
    /// (a loading window of ten years), so none waits for a re-read to be scheduled; another silo takes a dead silo's
    /// reminders when the ring changes, which does not wait on the clock.
    /// </summary>
    public static IServiceCollection AddTestReminderClock(this IServiceCollection services, TimeProvider clock)
    {
        services.AddKeyedSingleton(ReminderTimeProviderNames.Reminders, clock);
        return services.Configure<ReminderOptions>(o =>
        {
            o.RefreshReminderListPeriod = TimeSpan.FromDays(365);
            o.ReminderLoadingWindow = TimeSpan.FromDays(3650);
        });
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<BillingCluster>
{
    public const string Name = "billing cluster";
}
