using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;
using Microsoft.Playwright;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The whole system on a real loopback port, for a browser: a real silo on a fresh PostgreSQL database (as in
/// <see cref="ApiHost"/>), the real API on Kestrel (<c>WebApplicationFactory.UseKestrel</c>), and one headless
/// Chromium (Debian's <c>/usr/bin/chromium</c>, driven by Microsoft.Playwright's bundled Node driver).
/// Every request goes to 127.0.0.1 only. Its clocks are real (unlike <see cref="ApiHost"/>'s one test clock): the same tests
/// run against real processes, where nothing else could move time.
/// <para>
/// With <c>QUBRID_E2E_BASE_URL</c> and <c>QUBRID_E2E_ADMIN_KEY</c> set, it starts nothing and drives the system
/// already running there — as <c>scripts/start.sh</c> or <c>scripts/cluster.sh up</c> start it, with its default
/// configuration — so that what a newcomer opens is what is tested (<c>scripts/test.sh</c> does this for the tests
/// in the <see cref="EndToEnd"/> category). Every user, key and wallet is then created through the API.
/// </para>
/// </summary>
public sealed class BrowserHost : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    public static readonly string[] ChromiumArgs =
        ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    /// <summary>The trait of the browser tests that also run against the real processes (they need no test-only configuration).</summary>
    public const string EndToEnd = "EndToEnd";
    public const string BaseUrlVariable = "QUBRID_E2E_BASE_URL";
    public const string AdminKeyVariable = "QUBRID_E2E_ADMIN_KEY";

    public string AdminKey { get; private set; } = $"qbk_admin_test_{Guid.NewGuid():N}";

    /// <summary>True when the tests drive an already running system rather than in-process hosts.</summary>
    public bool External { get; } = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(BaseUrlVariable));
    public string BaseUrl { get; private set; } = "";
    public IBrowser Browser { get; private set; } = null!;
    private IPlaywright _playwright = null!;
    private WebApplicationFactory<Program> _factory = null!;
    private IHost _silo = null!;
    private readonly List<HttpClient> _clients = [];

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"{ChromiumPath} is missing: install Debian's chromium (scripts/test.sh does as root).");

        if (External) await UseRunningSystemAsync();
        else await StartInProcessAsync();

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ChromiumArgs,
            Timeout = 60_000,
        });
        // The machine is small and shared: give auto-waiting assertions room, but keep them bounded.
        Assertions.SetDefaultExpectTimeout(20_000);
    }

    private async Task UseRunningSystemAsync()
    {
        BaseUrl = Environment.GetEnvironmentVariable(BaseUrlVariable)!.TrimEnd('/');
        AdminKey = Environment.GetEnvironmentVariable(AdminKeyVariable) is { Length: > 0 } key
            ? key
            : throw new InvalidOperationException($"{BaseUrlVariable} is set but {AdminKeyVariable} is not: give the running system's admin key.");
        // The page as a newcomer's browser gets it: the HTML, its scripts and styles, and the API reference.
        var anonymous = Client();
        foreach (var path in new[] { "/", "/js/app.js", "/css/app.css", "/scalar/v1" })
        {
            var response = await anonymous.GetAsync(path);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"{BaseUrl}{path} answered {(int)response.StatusCode}: the running system does not serve the billing page.");
        }
        var me = await Client(AdminKey).GetAsync("/v1/me");
        if (!me.IsSuccessStatusCode) throw new InvalidOperationException($"{BaseUrl} does not accept the admin key ({(int)me.StatusCode}).");
    }

    private async Task StartInProcessAsync()
    {
        var connectionString = await TestDatabase.CreateAsync("browser");
        var clusterId = $"brw{Guid.NewGuid():N}"[..12];
        _silo = await SiloHosts.StartAsync(connectionString, clusterId, new Dictionary<string, string?>(ApiHost.Settings));

        var port = SiloHosts.FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:Qubrid", connectionString);
            web.UseSetting("Qubrid:Silo:ClusterId", clusterId);
            web.UseSetting("Qubrid:BootstrapAdminKey", AdminKey);
            foreach (var (k, v) in ApiHost.Settings) web.UseSetting(k, v);
        });
        _factory.UseKestrel(k => k.Listen(System.Net.IPAddress.Loopback, port));
        _factory.StartServer();

        // The bootstrap key is stored in the background once the database answers: wait for it (bounded).
        await ApiHost.BootstrapAdminKeyStoredAsync(_factory.Services, TimeSpan.FromSeconds(15));
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        _playwright?.Dispose();
        foreach (var c in _clients) c.Dispose();
        if (_factory is not null) await _factory.DisposeAsync();
        if (_silo is not null)
        {
            await _silo.StopAsync();
            _silo.Dispose();
        }
    }

    /// <summary>A fresh browser context (its own sessionStorage), 1280×900, downloads accepted.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = BaseUrl,
            ViewportSize = new ViewportSize { Width = 1280, Height = 900 },
            AcceptDownloads = true,
            Locale = "en-US",
            TimezoneId = "UTC",
        });
        context.SetDefaultTimeout(20_000);
        context.SetDefaultNavigationTimeout(30_000);
        return await context.NewPageAsync();
    }

    /// <summary>An HTTP client on the real port (no proxy), with the key if given.</summary>
    public HttpClient Client(string? key = null)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        lock (_clients) _clients.Add(client);
        return client;
    }

    public async Task<string> IssueKeyAsync(string role, string? userId = null)
    {
        var response = await Client(AdminKey).PostAsJsonAsync("/v1/api-keys", new { role, userId });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }

    /// <summary>A new wallet (with its 5 USD sign-up bonus), a user key for it and a client with that key.</summary>
    public async Task<(string UserId, string Key, HttpClient Client)> NewUserAsync(string purpose)
    {
        var userId = $"{purpose}-{Guid.NewGuid():N}";
        (await Client(AdminKey).PutAsync($"/v1/wallets/{userId}", null)).EnsureSuccessStatusCode();
        var key = await IssueKeyAsync("user", userId);
        return (userId, key, Client(key));
    }

    /// <summary>The repository root: the first folder above the test binaries that holds Qubrid.Orleans.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Qubrid.Orleans.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No Qubrid.Orleans.sln above {AppContext.BaseDirectory}.");
    }
}

[CollectionDefinition(Name)]
public sealed class BrowserCollection : ICollectionFixture<BrowserHost>
{
    public const string Name = "browser host";
}
