using System.Net;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Qubrid.Api.Auth;
using Qubrid.ServiceDefaults;
using Qubrid.Silo;
using Qubrid.Storage;

namespace Qubrid.Bench;

/// <summary>
/// The system under test, in this process: a real silo (<see cref="SiloHostingExtensions.AddQubridSilo"/>:
/// ADO.NET clustering, reminders and storage on PostgreSQL, the wallet grains and their ledger store),
/// an Orleans cluster client that reaches it through its gateway on loopback, and optionally the real
/// HTTP API (Kestrel on a loopback port, itself a cluster client).
/// </summary>
public sealed class SystemHost : IAsyncDisposable
{
    private IHost _silo = null!;
    private IHost _client = null!;
    private WebApplicationFactory<Program>? _api;
    private HttpClient? _http;
    private string _orchestratorKey = "";

    public IClusterClient Client { get; private set; } = null!;
    public string ConnectionString { get; private init; } = "";

    public static async Task<SystemHost> StartAsync(string connectionString, IDictionary<string, string?> settings,
        ILedgerStore? store = null, bool withApi = false)
    {
        var host = new SystemHost { ConnectionString = connectionString };
        var clusterId = $"bench{Guid.NewGuid():N}"[..13];
        var common = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Qubrid"] = connectionString,
            ["Qubrid:Silo:ClusterId"] = clusterId,
            ["Qubrid:SignupBonus:Amount"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        };

        var silo = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], EnvironmentName = "Production" });
        silo.Configuration.AddInMemoryCollection(common);
        silo.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Qubrid:Silo:SiloPort"] = Databases.FreePort().ToString(),
            ["Qubrid:Silo:GatewayPort"] = Databases.FreePort().ToString(),
        });
        silo.Configuration.AddInMemoryCollection(settings);
        if (store is not null) silo.Services.AddSingleton(store); // AddQubridBilling only adds the PostgreSQL store if none is registered
        Quiet(silo.Logging);
        silo.AddQubridSilo();
        await SiloHostingExtensions.MigrateAsync(connectionString);
        host._silo = silo.Build();
        await host._silo.StartAsync();

        var client = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], EnvironmentName = "Production" });
        client.Configuration.AddInMemoryCollection(common);
        client.Configuration.AddInMemoryCollection(settings.Where(s => s.Key.StartsWith(ClusterTlsOptions.Section + ":", StringComparison.Ordinal)));
        Quiet(client.Logging);
        client.UseOrleansClient(c =>
        {
            c.UseQubridTls(client.Configuration); // the silo's Qubrid:Tls, if any
            c.UseAdoNetClustering(o =>
            {
                o.Invariant = "Npgsql";
                o.ConnectionString = connectionString;
            });
            c.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = "qubrid";
            });
        });
        host._client = client.Build();
        await host._client.StartAsync();
        host.Client = host._client.Services.GetRequiredService<IClusterClient>();

        if (withApi) await host.StartApiAsync(common, settings);
        return host;
    }

    private async Task StartApiAsync(Dictionary<string, string?> common, IDictionary<string, string?> settings)
    {
        int port = Databases.FreePort();
        var url = $"http://127.0.0.1:{port}";
        _api = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseEnvironment("Production");
            web.ConfigureLogging(Quiet);
            foreach (var (k, v) in common) web.UseSetting(k, v);
            foreach (var (k, v) in settings) web.UseSetting(k, v);
            web.UseSetting("urls", url);
            // The per-key limiter (2,000/s by default) would cap the benchmark, not the system.
            web.UseSetting("Qubrid:Api:RequestsPerSecondPerKey", "100000000");
            web.UseSetting("Qubrid:Api:BurstPerKey", "100000000");
        });
        _api.UseKestrel(port);
        _api.StartServer();
        _orchestratorKey = await _api.Services.GetRequiredService<ApiKeyStore>().IssueAsync(Roles.Orchestrator, null, CancellationToken.None);
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, UseProxy = false })
        {
            BaseAddress = new Uri(url),
            Timeout = TimeSpan.FromSeconds(30),
        };
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _orchestratorKey);
    }

    /// <summary>Warnings and errors only: a benchmark must not spend its time logging.</summary>
    private static void Quiet(ILoggingBuilder logging)
    {
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
    }

    /// <summary>Creates the wallet and credits it with far more than any run can spend.</summary>
    public Task FundAsync(string walletId) => FundAsync(Client, walletId);

    public Task FundAsync(IReadOnlyList<string> walletIds, int concurrency = 64) => FundAsync(Client, walletIds, concurrency);

    /// <summary>One inference charge through the cluster client.</summary>
    public Task<bool> ChargeAsync(string walletId, string idempotencyKey) => ChargeAsync(Client, walletId, idempotencyKey);

    /// <summary>Creates the wallet and credits it with far more than any run can spend, through any cluster client.</summary>
    public static async Task FundAsync(IClusterClient client, string walletId)
    {
        var wallet = client.GetGrain<IWalletGrain>(walletId);
        await wallet.Create();
        var credited = await wallet.Credit(new CreditRequest($"bench-funds:{walletId}", LedgerEntryKind.Topup,
            Micros.FromUsd(BenchSettings.WalletFundsUsd), "benchmark funds"));
        if (!credited.Succeeded) throw new InvalidOperationException($"Funding {walletId} failed: {credited.Detail}");
    }

    public static async Task FundAsync(IClusterClient client, IReadOnlyList<string> walletIds, int concurrency = 64)
    {
        await Parallel.ForEachAsync(walletIds, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, async (id, _) => await FundAsync(client, id));
    }

    /// <summary>One inference charge through any cluster client.</summary>
    public static async Task<bool> ChargeAsync(IClusterClient client, string walletId, string idempotencyKey)
    {
        var result = await client.GetGrain<IWalletGrain>(walletId).ChargeInference(
            new InferenceChargeRequest(idempotencyKey, BenchSettings.Model, BenchSettings.InputTokens, BenchSettings.OutputTokens));
        return result.Succeeded && !result.Replayed && result.Amount.Value == BenchSettings.DebitMicros;
    }

    /// <summary>One inference charge through the HTTP API: <c>POST /v1/inference/charges</c> with an orchestrator key.</summary>
    public async Task<bool> ChargeOverHttpAsync(string walletId, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inference/charges")
        {
            Content = new StringContent(
                $$"""{"userId":"{{walletId}}","model":"{{BenchSettings.Model}}","inputTokens":{{BenchSettings.InputTokens}},"outputTokens":{{BenchSettings.OutputTokens}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await _http!.SendAsync(request);
        return response.StatusCode == HttpStatusCode.Created;
    }

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (_api is not null) await _api.DisposeAsync();
        await _client.StopAsync();
        _client.Dispose();
        await _silo.StopAsync();
        _silo.Dispose();
        // The ADO.NET providers pool connections per connection string, process-wide: close them so that the
        // next phase starts with the server's connection slots free.
        Npgsql.NpgsqlConnection.ClearAllPools();
    }
}
