using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Connections.Security;
using Qubrid.ServiceDefaults;
using Qubrid.Silo;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Cluster;

/// <summary>
/// One real silo (production wiring) with <c>Qubrid:Tls</c> on, certificates made by the same code the start command
/// uses: a client holding a certificate from the cluster's CA calls a grain; a client without TLS, with TLS but no
/// certificate, or with a certificate from another CA cannot call one and changes nothing.
/// </summary>
public sealed class ClusterTlsTests : IClassFixture<ClusterTlsTests.TlsSilo>
{
    private readonly TlsSilo _silo;

    public ClusterTlsTests(TlsSilo silo) => _silo = silo;

    public sealed class TlsSilo : IAsyncLifetime
    {
        public string Directory { get; } = Path.Combine(Path.GetTempPath(), $"qubrid-tls-{Guid.NewGuid():N}");
        public string ConnectionString { get; private set; } = "";
        public string ClusterId { get; } = $"tls{Guid.NewGuid():N}"[..12];
        public X509Certificate2 Ca { get; private set; } = null!;
        public X509Certificate2 Node { get; private set; } = null!;
        private IHost _host = null!;

        public Dictionary<string, string?> TlsSettings => new()
        {
            ["Qubrid:Tls:CertificatePath"] = Path.Combine(Directory, "node.crt"),
            ["Qubrid:Tls:KeyPath"] = Path.Combine(Directory, "node.key"),
            ["Qubrid:Tls:CaPath"] = Path.Combine(Directory, "ca.crt"),
        };

        public async Task InitializeAsync()
        {
            Assert.True(ClusterTls.CreateLocal(Directory));
            var options = ClusterTlsOptions.From(new ConfigurationBuilder().AddInMemoryCollection(TlsSettings).Build());
            (Node, Ca) = ClusterTls.Load(options);
            ConnectionString = await TestDatabase.CreateAsync("tls");
            _host = await SiloHosts.StartAsync(ConnectionString, ClusterId, TlsSettings);
        }

        public async Task DisposeAsync()
        {
            await _host.StopAsync();
            _host.Dispose();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    [Fact]
    public async Task ClientWithTheClusterCertificate_CallsAGrain()
    {
        var settings = new ConfigurationBuilder().AddInMemoryCollection(_silo.TlsSettings).Build();
        await using var client = await StartClientAsync(c => c.UseQubridTls(settings));

        var wallet = $"tls-ok-{Guid.NewGuid():N}";
        var created = await client.Client.GetGrain<IWalletGrain>(wallet).Create();

        Assert.True(created.Created);
        Assert.NotNull(await client.Client.GetGrain<IWalletGrain>(wallet).GetBalance());
    }

    [Fact]
    public async Task ClientWithoutTls_CannotCallAGrain() => await AssertCannotCallAsync(_ => { });

    [Fact]
    public async Task ClientWithTlsButNoCertificate_CannotCallAGrain() =>
        await AssertCannotCallAsync(c => c.UseTls(tls =>
        {
            // Trusts the silo's certificate, presents none of its own.
            tls.LocalCertificate = null;
            tls.RemoteCertificateValidation = (cert, _, _) => ClusterTls.IssuedBy(cert, _silo.Ca);
        }));

    [Fact]
    public async Task ClientWithACertificateFromAnotherCa_CannotCallAGrain()
    {
        var (otherCa, otherNode) = ClusterTls.CreatePair("Some other CA", "qubrid-node", TimeSpan.FromDays(1));
        using (otherCa)
        using (otherNode)
        {
            await AssertCannotCallAsync(c => c.UseTls(otherNode, tls => tls.RemoteCertificateValidation = (cert, _, _) => ClusterTls.IssuedBy(cert, _silo.Ca)));
        }
    }

    [Fact]
    public async Task SilosWithTheClusterCertificate_FormOneCluster()
    {
        var clusterId = $"tls2{Guid.NewGuid():N}"[..12];
        // A joining silo must reach every active silo before it becomes active; bounded here so a refusal is quick.
        var join = new Dictionary<string, string?> { ["Qubrid:Membership:MaxJoinAttemptTime"] = "00:00:15" };
        var first = await SiloHosts.StartAsync(_silo.ConnectionString, clusterId, new Dictionary<string, string?>(_silo.TlsSettings.Concat(join)));
        var second = await SiloHosts.StartAsync(_silo.ConnectionString, clusterId, new Dictionary<string, string?>(_silo.TlsSettings.Concat(join)));
        try
        {
            var settings = new ConfigurationBuilder().AddInMemoryCollection(_silo.TlsSettings).Build();
            await using (var client = await StartClientAsync(c => c.UseQubridTls(settings), clusterId))
            {
                var hosts = await client.Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true);
                Assert.Equal(2, hosts.Count);
            }
            // No test starts a silo with another CA's certificate in this process: it cannot reach the others, and
            // while it tries to join, the membership table (which it can write: it holds the database's connection
            // string) may declare them dead, and Orleans ends a silo declared dead with FailFast, taking the test
            // host with it. TLS guards the silo ports; the database's credentials guard the membership table.
        }
        finally
        {
            foreach (var silo in new[] { second, first })
            {
                await silo.StopAsync();
                silo.Dispose();
            }
        }
    }

    [Fact]
    public void CertificateCheck_AcceptsOnlyTheClusterCa()
    {
        var (otherCa, otherNode) = ClusterTls.CreatePair("Some other CA", "qubrid-node", TimeSpan.FromDays(1));
        using (otherCa)
        using (otherNode)
        {
            Assert.True(ClusterTls.IssuedBy(_silo.Node, _silo.Ca));
            Assert.False(ClusterTls.IssuedBy(otherNode, _silo.Ca));
            Assert.False(ClusterTls.IssuedBy(_silo.Node, otherCa));
            // A self-signed certificate claiming the CA's name is not the CA.
            Assert.False(ClusterTls.IssuedBy(otherCa, _silo.Ca));
        }
    }

    [Fact]
    public void LocalCertificates_AreCreatedOnceAndKept()
    {
        var before = File.ReadAllText(Path.Combine(_silo.Directory, "node.crt"));

        Assert.False(ClusterTls.CreateLocal(_silo.Directory));

        Assert.Equal(before, File.ReadAllText(Path.Combine(_silo.Directory, "node.crt")));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_silo.Directory, "node.key")));
    }

    [Fact]
    public void SiloOnEveryInterfaceWithoutTls_RefusesToStartUnlessTlsIsTurnedOffExplicitly()
    {
        IHostApplicationBuilder Builder(bool? tlsEnabled)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["ConnectionStrings:Qubrid"] = "Host=127.0.0.1;Database=unused",
                ["Qubrid:Silo:ListenOnAnyHostAddress"] = "true",
                ["Qubrid:Tls:Enabled"] = tlsEnabled?.ToString(),
            });
            return builder;
        }

        var refused = Assert.Throws<InvalidOperationException>(() => Builder(null).AddQubridSilo());
        Assert.Contains("Qubrid:Tls", refused.Message);
        Builder(false).AddQubridSilo();
        Assert.Throws<InvalidOperationException>(() => Builder(true).AddQubridSilo()); // on, but no certificate
    }

    [Fact]
    public void ACertificateNotIssuedByTheConfiguredCa_IsRefusedAtStartUp()
    {
        var otherDir = Path.Combine(Path.GetTempPath(), $"qubrid-tls-other-{Guid.NewGuid():N}");
        ClusterTls.CreateLocal(otherDir);
        try
        {
            var mixed = new ClusterTlsOptions
            {
                CertificatePath = Path.Combine(otherDir, "node.crt"),
                KeyPath = Path.Combine(otherDir, "node.key"),
                CaPath = Path.Combine(_silo.Directory, "ca.crt"),
            };

            var refused = Assert.Throws<InvalidOperationException>(() => ClusterTls.Load(mixed));

            Assert.Contains("not a valid certificate issued by the CA", refused.Message);
        }
        finally
        {
            Directory.Delete(otherDir, recursive: true);
        }
    }

    private async Task AssertCannotCallAsync(Action<IClientBuilder> tls)
    {
        var wallet = $"tls-refused-{Guid.NewGuid():N}";
        var failure = await Record.ExceptionAsync(async () =>
        {
            await using var client = await StartClientAsync(tls);
            await client.Client.GetGrain<IWalletGrain>(wallet).Create();
        });

        // The gateway is found (membership) but refuses the connection during the TLS handshake.
        Assert.IsType<Orleans.Runtime.Messaging.ConnectionFailedException>(failure);
        // Nothing happened on the cluster's side: a client with the certificate sees no such wallet.
        var settings = new ConfigurationBuilder().AddInMemoryCollection(_silo.TlsSettings).Build();
        await using var good = await StartClientAsync(c => c.UseQubridTls(settings));
        Assert.Null(await good.Client.GetGrain<IWalletGrain>(wallet).GetBalance());
    }

    private sealed class ClientHost(IHost host) : IAsyncDisposable
    {
        public IClusterClient Client => host.Services.GetRequiredService<IClusterClient>();

        public Task StartAsync(CancellationToken ct) => host.StartAsync(ct);

        public async ValueTask DisposeAsync()
        {
            try
            {
                await host.StopAsync(TimeSpan.FromSeconds(5));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A client that never connected may fail to stop cleanly; it is disposed either way.
            }
            host.Dispose();
        }
    }

    private async Task<ClientHost> StartClientAsync(Action<IClientBuilder> tls, string? clusterId = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleansClient(client =>
        {
            client.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = _silo.ConnectionString;
            });
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId ?? _silo.ClusterId;
                o.ServiceId = ClusterNames.DefaultServiceId;
            });
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(5));
            // The first failed connection ends the start (no retries), with the reason.
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            tls(client);
        });
        var host = new ClientHost(builder.Build());
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await host.StartAsync(cts.Token);
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
        return host;
    }
}
