using Microsoft.AspNetCore.TestHost;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Orleans.Runtime;
using Qubrid.Api.Auth;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The whole system in one process: a real silo (ADO.NET clustering, reminders, storage, ledger) on a fresh
/// PostgreSQL database, and the real API (an Orleans client found through the membership table) in a
/// WebApplicationFactory.
/// <para>
/// One clock, <see cref="Clock"/>, that moves only when a test moves it: the silo's billing clock, its reminders' clock
/// (keyed <see cref="Orleans.Reminders.ReminderTimeProviderNames.Reminders"/>) and the API's <see cref="TimeProvider"/>.
/// A session's charge reminder ticks when a test moves the clock past its due time (<see cref="ReminderTicks.AdvanceAsync"/>
/// moves it and waits for the tick); a key's expiry or a rotation's grace passes when a test moves the clock past it.
/// What only paces work keeps real time: Orleans' membership and messaging and the silo's unkeyed clock (webhook delivery
/// and its retries, grain timers), the event stream's poll, payment recovery's round, the rate limits and the key cache.
/// </para>
/// </summary>
public sealed class ApiHost : IAsyncLifetime
{
    public string AdminKey { get; } = $"qbk_admin_test_{Guid.NewGuid():N}";
    public string ConnectionString { get; private set; } = "";
    public NpgsqlDataSource Db { get; private set; } = null!;
    public WebApplicationFactory<Program> Factory { get; private set; } = null!;

    /// <summary>
    /// The one clock of billing, reminders and the API: it starts at the real time the host was made, on a whole second (so
    /// that times moved by whole units stay whole, microseconds included), and stands still until a test moves it.
    /// </summary>
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    /// <summary>The API's cluster client, for the grains a test watches (<see cref="ReminderTicks.Of"/>).</summary>
    public IGrainFactory Grains => Factory.Services.GetRequiredService<IClusterClient>();
    private IHost _silo = null!;

    public static readonly IReadOnlyDictionary<string, string?> Settings = new Dictionary<string, string?>
    {
        ["Qubrid:Metering:ChargeInterval"] = "00:00:01",
        ["Qubrid:SignupBonus:Amount"] = "5",
        ["Qubrid:Api:MaxBodyBytes"] = "4096",
        ["Qubrid:Api:EventPollInterval"] = "00:00:00.200",
        ["Qubrid:AutoTopup:RetryAfter"] = "00:00:00",
        ["Qubrid:Webhooks:AllowedHosts:0"] = "127.0.0.1",
        ["Qubrid:Webhooks:RetryInitialDelay"] = "00:00:00.200",
        ["Qubrid:Webhooks:RetryMaxDelay"] = "00:00:02",
        ["Qubrid:Webhooks:KeepAlivePeriod"] = "00:00:01",
        // Every test of the shared host calls from one address and the clock stands still: the per-address limit on failed
        // redemptions is the throttle tests' own (RedemptionApiTests), not a limit the other tests should meet.
        ["Qubrid:Redemptions:MaxFailuresPerAddress"] = "100000",
    };

    public async Task InitializeAsync()
    {
        ConnectionString = await TestDatabase.CreateAsync("api");
        Db = NpgsqlDataSource.Create(ConnectionString);
        var clusterId = $"api{Guid.NewGuid():N}"[..12];
        _silo = await SiloHosts.StartAsync(ConnectionString, clusterId, new Dictionary<string, string?>(Settings), services =>
        {
            services.AddSingleton(new BillingClock(Clock));
            services.AddTestReminderClock(Clock);
        });
        Factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:Qubrid", ConnectionString);
            web.UseSetting("Qubrid:Silo:ClusterId", clusterId);
            web.UseSetting("Qubrid:BootstrapAdminKey", AdminKey);
            foreach (var (k, v) in Settings) web.UseSetting(k, v);
            web.ConfigureTestServices(services =>
            {
                services.AddSingleton<TimeProvider>(Clock);
                // The cluster client's messaging (request timeouts, the gateway list's refresh timer) keeps real time, as
                // Orleans' TimeProviderNames advises: on the test clock a refresh would run inline in whichever test moves
                // the clock, and a client being stopped could see it (ObjectDisposedException in GatewayManager.StopAsync).
                services.AddKeyedSingleton<TimeProvider>(TimeProviderNames.Messaging, TimeProvider.System);
            });
        });
        // The bootstrap key is stored in the background once the database answers: wait for it (bounded).
        await BootstrapAdminKeyStoredAsync(Factory.Services, TimeSpan.FromSeconds(15));
    }

    /// <summary>Waits (bounded) for the API's background service that stores the bootstrap admin key to finish.</summary>
    public static async Task BootstrapAdminKeyStoredAsync(IServiceProvider api, TimeSpan timeout)
    {
        var bootstrap = api.GetServices<IHostedService>().OfType<BootstrapAdminKey>().Single();
        try
        {
            await (bootstrap.ExecuteTask ?? Task.CompletedTask).WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException($"The API did not store the bootstrap admin key within {timeout.TotalSeconds:0} s.");
        }
    }

    public async Task DisposeAsync()
    {
        await Factory.DisposeAsync();
        await _silo.StopAsync();
        _silo.Dispose();
        await Db.DisposeAsync();
    }

    public HttpClient Client(string? key = null)
    {
        var client = Factory.CreateClient();
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public async Task<string> IssueKeyAsync(string role, string? userId = null) => (await IssueKeyWithIdAsync(role, userId)).Key;

    /// <summary>Issues a key and returns its public id with the secret.</summary>
    public async Task<(string Id, string Key)> IssueKeyWithIdAsync(string role, string? userId = null, DateTimeOffset? expiresAt = null)
    {
        var response = await Client(AdminKey).PostAsJsonAsync("/v1/api-keys", new { role, userId, expiresAt });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!);
    }

    /// <summary>A new wallet (with its 5 USD bonus) and a user key for it.</summary>
    public async Task<(string UserId, HttpClient Client)> NewUserAsync(string purpose)
    {
        var userId = $"{purpose}-{Guid.NewGuid():N}";
        (await Client(AdminKey).PutAsync($"/v1/wallets/{userId}", null)).EnsureSuccessStatusCode();
        return (userId, Client(await IssueKeyAsync("user", userId)));
    }

    public static HttpRequestMessage Post(string url, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiHost>
{
    public const string Name = "api host";
}
