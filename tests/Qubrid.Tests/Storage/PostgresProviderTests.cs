using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Orleans.Configuration;
using Orleans.Messaging;
using Orleans.Storage;
using Qubrid.Silo;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>
/// The Orleans ADO.NET providers on our own migrations, through the production silo wiring
/// (<see cref="SiloHostingExtensions.AddQubridSilo"/>): every stored query key is exercised.
/// </summary>
public class PostgresProviderTests
{
    [Fact]
    public async Task Silos_join_serve_leave_and_are_cleaned_up_through_the_postgres_membership_table()
    {
        var cs = await TestDatabase.CreateAsync("membership");
        var clusterId = $"c{Guid.NewGuid():N}"[..12];
        using var silo1 = await StartSiloAsync(cs, clusterId);
        using var silo2 = await StartSiloAsync(cs, clusterId);
        using var client = await StartClientAsync(cs, clusterId);

        var gateways = await client.Services.GetRequiredService<IGatewayListProvider>().GetGateways();
        Assert.Equal(2, gateways.Count);

        var wallet = client.Services.GetRequiredService<IClusterClient>().GetGrain<IWalletGrain>($"via-adonet-{Guid.NewGuid():N}");
        Assert.True((await wallet.Create()).Created);

        var table = silo1.Services.GetRequiredService<IMembershipTable>();
        var all = await table.ReadAllAsync(CancellationToken.None);
        Assert.Equal(2, all.Members.Count(m => m.Item1.Status == SiloStatus.Active));
        var address2 = all.Members.Select(m => m.Item1.SiloAddress).Single(a => a.Endpoint.Port == PortOf(silo2));
        var row = await table.ReadRowAsync(address2, CancellationToken.None);
        Assert.Equal(SiloStatus.Active, Assert.Single(row.Members).Item1.Status);

        await silo2.StopAsync();
        row = await table.ReadRowAsync(address2, CancellationToken.None);
        Assert.Equal(SiloStatus.Dead, Assert.Single(row.Members).Item1.Status);

        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(1), CancellationToken.None);
        Assert.Empty((await table.ReadRowAsync(address2, CancellationToken.None)).Members);

        await client.StopAsync();
        await silo1.StopAsync();
        await table.DeleteMembershipTableEntriesAsync(clusterId, CancellationToken.None);
        await using var db = NpgsqlDataSource.Create(cs);
        Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = $1", clusterId));
    }

    [Fact]
    public async Task Reminder_rows_are_upserted_read_by_grain_and_range_and_deleted()
    {
        var cs = await TestDatabase.CreateAsync("reminders");
        using var silo = await StartSiloAsync(cs, $"r{Guid.NewGuid():N}"[..12]);
        var table = silo.Services.GetRequiredService<IReminderTable>();
        var grain = GrainId.Create("test", $"g-{Guid.NewGuid():N}");
        var entry = new ReminderEntry { GrainId = grain, ReminderName = "tick", StartAt = DateTime.UtcNow, Period = TimeSpan.FromMinutes(1) };

        var etag = await table.UpsertRow(entry);
        var read = await table.ReadRow(grain, "tick");
        Assert.NotNull(read);
        Assert.Equal(TimeSpan.FromMinutes(1), read.Period);
        Assert.Single((await table.ReadRows(grain)).Reminders);
        await using var db = NpgsqlDataSource.Create(cs);
        uint hash = unchecked((uint)(int)await TestDatabase.ScalarAsync(db, "SELECT grainhash FROM orleansreminderstable LIMIT 1"));
        Assert.Equal(grain.GetUniformHashCode(), hash);
        // Ranges are (begin, end] on the hash ring; begin > end wraps around zero.
        Assert.Contains((await table.ReadRows(hash - 1, hash)).Reminders, r => r.GrainId == grain);
        Assert.DoesNotContain((await table.ReadRows(hash, hash + 1)).Reminders, r => r.GrainId == grain);
        Assert.Contains((await table.ReadRows(hash + 1, hash)).Reminders, r => r.GrainId == grain);
        Assert.DoesNotContain((await table.ReadRows(hash, hash - 1)).Reminders, r => r.GrainId == grain);

        Assert.True(await table.RemoveRow(grain, "tick", read.ETag!));
        Assert.Null(await table.ReadRow(grain, "tick"));
        Assert.NotNull(etag);

        await table.UpsertRow(entry);
        await table.TestOnlyClearTable();
        Assert.Empty((await table.ReadRows(grain)).Reminders);
    }

    [Fact]
    public async Task Grain_state_is_written_read_and_cleared_leaving_no_row_and_one_grain_never_gets_two_rows()
    {
        var cs = await TestDatabase.CreateAsync("storage");
        using var silo = await StartSiloAsync(cs, $"s{Guid.NewGuid():N}"[..12]);
        var storage = silo.Services.GetRequiredKeyedService<IGrainStorage>(SiloHostingExtensions.StorageName);
        var grain = GrainId.Create("test", $"g-{Guid.NewGuid():N}");

        var state = new GrainState<TestState>(new TestState { Value = 42 });
        await storage.WriteStateAsync("TestState", grain, state);
        var read = new GrainState<TestState>(new TestState());
        await storage.ReadStateAsync("TestState", grain, read);
        Assert.Equal(42, read.State!.Value);
        Assert.True(read.RecordExists);

        read.State!.Value = 43;
        await storage.WriteStateAsync("TestState", grain, read);
        await Assert.ThrowsAnyAsync<Exception>(() => storage.WriteStateAsync("TestState", grain, state)); // stale etag

        await using var db = NpgsqlDataSource.Create(cs);
        var ex = await Assert.ThrowsAsync<PostgresException>(() => TestDatabase.ExecAsync(db,
            """
            INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, version, modifiedon)
            SELECT grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, 1, now() FROM orleansstorage LIMIT 1
            """));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, ex.SqlState);

        // Cleared state leaves no row (DeleteStateOnClear): a session start the wallet refused writes nothing.
        await storage.ClearStateAsync("TestState", grain, read);
        var cleared = new GrainState<TestState>(new TestState());
        await storage.ReadStateAsync("TestState", grain, cleared);
        Assert.Equal(0, cleared.State?.Value ?? 0);
        Assert.Equal(0, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM orleansstorage"));
        await storage.WriteStateAsync("TestState", grain, new GrainState<TestState>(new TestState { Value = 44 }));
        Assert.Equal(1, await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM orleansstorage"));
    }

    [Fact]
    public async Task Migrations_apply_twice_without_change()
    {
        var cs = await TestDatabase.CreateAsync("migrate", migrate: false);
        await using var db = NpgsqlDataSource.Create(cs);
        var first = await Migrator.ApplyAsync(db);
        var second = await Migrator.ApplyAsync(db);
        Assert.Equal(Migrator.Scripts.Select(s => s.Name), first);
        Assert.Empty(second);
        foreach (var (_, _, sql) in Migrator.Scripts) await TestDatabase.ExecAsync(db, sql); // each script is idempotent on its own
        Assert.True(await TestDatabase.ScalarAsync(db, "SELECT count(*) FROM orleansquery") >= 17);
    }

    [GenerateSerializer]
    public sealed class TestState
    {
        [Id(0)] public int Value { get; set; }
    }

    private static int PortOf(IHost silo) => silo.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EndpointOptions>>().Value.SiloPort;

    private static Task<IHost> StartSiloAsync(string cs, string clusterId) => SiloHosts.StartAsync(cs, clusterId);

    private static async Task<IHost> StartClientAsync(string cs, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = cs;
            });
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = "qubrid";
            });
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }
}
