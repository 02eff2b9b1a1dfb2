using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Orleans.TestingHost;
using Orleans.Timers;
using Qubrid.Silo;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Simulation;

/// <summary>
/// Two real silos on a fresh PostgreSQL database, running the project's own grains and ledger store, with the
/// simulation's world in front of everything time- and fault-related: the billing clock, the reminder table,
/// the ledger store and the grain storage.
/// </summary>
public sealed class SimCluster : IAsyncDisposable
{
    public static readonly TimeSpan ChargeInterval = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan MinimumRunway = TimeSpan.FromMinutes(10);
    public const decimal SignupBonusUsd = 5m;

    public static readonly Dictionary<string, string?> Settings = new()
    {
        ["Qubrid:SignupBonus:Amount"] = "5",
        ["Qubrid:SignupBonus:ValidFor"] = "30.00:00:00",
        ["Qubrid:Metering:ChargeInterval"] = "00:01:00",
        ["Qubrid:Metering:MinimumRunway"] = "00:10:00",
        ["Qubrid:Metering:LowBalanceRunway"] = "00:30:00",
    };

    /// <summary>Metering shards in the simulation: few, so that a step's deliveries stay cheap.</summary>
    public const int Shards = 4;

    private SimCluster(SimWorld world, string connectionString, InProcessTestCluster cluster, MeteringMode mode)
    {
        Mode = mode;
        World = world;
        ConnectionString = connectionString;
        Cluster = cluster;
        Db = NpgsqlDataSource.Create(connectionString);
    }

    public MeteringMode Mode { get; }
    public SimWorld World { get; }
    public string ConnectionString { get; }
    public InProcessTestCluster Cluster { get; }
    public NpgsqlDataSource Db { get; }
    public IGrainFactory Grains => Cluster.Client;

    public static async Task<SimCluster> StartAsync(MeteringMode mode = MeteringMode.SessionReminders)
    {
        var world = new SimWorld();
        var cs = await TestDatabase.CreateAsync("sim");
        // The simulation checks the grains' logic, not the disk: its throwaway database does not wait for WAL flushes
        // (crash durability is the fault test's, with real processes and a real restart).
        await using (var db = NpgsqlDataSource.Create(cs))
        {
            await TestDatabase.ExecAsync(db, $"ALTER DATABASE \"{new NpgsqlConnectionStringBuilder(cs).Database}\" SET synchronous_commit = off");
        }
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSiloHost((_, host) =>
        {
            host.Configuration.AddInMemoryCollection(Settings);
            host.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Qubrid:Metering:Mode"] = mode.ToString(),
                ["Qubrid:Metering:Shards"] = Shards.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
            host.Services.AddSingleton<IMeteringStore>(sp => new FaultyMeteringStore(
                new MeteringStore(sp.GetRequiredService<NpgsqlDataSource>()), world));
            host.Services.AddSingleton(new BillingClock(new SkewedClock(world)));
            host.Services.AddSingleton<ILedgerStore>(sp => new FaultyLedgerStore(sp.GetRequiredService<LedgerStore>(), world));
            host.Services.AddQubridBilling(host.Configuration, cs);
        });
        builder.ConfigureSilo((_, silo) =>
        {
            silo.UseQubridPostgres(cs);
            silo.Services.AddSingleton<IReminderRegistry>(world.Reminders);
            // The faults go under the translation of storage failures, where the database's own would arise.
            StorageFailureTranslation.Decorate(silo.Services, SiloHostingExtensions.StorageName,
                inner => new StorageFailureTranslation(new FaultyGrainStorage(inner, world)));
        });
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return new SimCluster(world, cs, cluster, mode);
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.StopAllSilosAsync();
        await Cluster.DisposeAsync();
        await Db.DisposeAsync();
    }
}
