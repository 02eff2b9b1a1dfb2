using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Qubrid.Api.Auth;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>SPEC "API keys": list (never the secret), revoke (401 from the next request on), rotate with grace, expiry, last use, the last admin key, the bootstrap key.</summary>
[Collection(ApiCollection.Name)]
public class ApiKeyManagementTests(ApiHost api)
{

    private static async Task<List<JsonElement>> ListAsync(HttpClient client)
    {
        var response = await client.GetAsync("/v1/api-keys");
        Assert.Equal(200, (int)response.StatusCode);
        return (await Json(response)).GetProperty("items").EnumerateArray().ToList();
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, int status, string code)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status} {code}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, JsonDocument.Parse(body).RootElement.GetProperty("code").GetString());
    }

    [Fact]
    [Trait("Rule", "R-KEY-1")]
    public async Task Keys_are_listed_without_the_secret_the_admin_sees_all_and_a_user_only_their_own()
    {
        var (userId, _) = await api.NewUserAsync("keys-list");
        var expires = api.Clock.GetUtcNow().AddDays(3);
        var (id, key) = await api.IssueKeyWithIdAsync("user", userId, expires);
        var (otherId, _) = await api.IssueKeyWithIdAsync("orchestrator");
        var user = api.Client(key);
        Assert.Equal(200, (int)(await user.GetAsync("/v1/me")).StatusCode);

        var adminRaw = await (await api.Client(api.AdminKey).GetAsync("/v1/api-keys")).Content.ReadAsStringAsync();
        Assert.DoesNotContain(key, adminRaw);
        Assert.DoesNotContain(api.AdminKey, adminRaw);
        var all = JsonDocument.Parse(adminRaw).RootElement.GetProperty("items").EnumerateArray().ToList();
        var mine = Assert.Single(all, k => k.GetProperty("id").GetString() == id);
        Assert.Contains(all, k => k.GetProperty("id").GetString() == otherId);
        Assert.Equal(["id", "prefix", "role", "userId", "createdAt", "lastUsedAt", "expiresAt", "revokedAt"], mine.EnumerateObject().Select(p => p.Name));
        Assert.Equal("user", mine.GetProperty("role").GetString());
        Assert.Equal(userId, mine.GetProperty("userId").GetString());
        Assert.StartsWith(mine.GetProperty("prefix").GetString()!, key);
        Assert.True(mine.GetProperty("prefix").GetString()!.Length < key.Length - 16, "the prefix must not give the key away");
        Assert.Equal(expires, mine.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, mine.GetProperty("revokedAt").ValueKind);
        Assert.NotEqual(JsonValueKind.Null, mine.GetProperty("lastUsedAt").ValueKind); // used once above
        Assert.Contains(all, k => k.GetProperty("role").GetString() == "admin" && k.GetProperty("userId").ValueKind == JsonValueKind.Null);

        // The user's own keys (the one NewUserAsync issued, and this one), none of anyone else's.
        var own = await ListAsync(user);
        Assert.Contains(own, k => k.GetProperty("id").GetString() == id);
        Assert.Equal(2, own.Count);
        Assert.All(own, k => Assert.Equal(userId, k.GetProperty("userId").GetString()));
    }

    [Fact]
    public async Task Last_use_is_recorded_at_most_once_a_minute_per_key_not_on_every_request()
    {
        var store = api.Factory.Services.GetRequiredService<ApiKeyStore>();
        var (_, key) = await api.IssueKeyWithIdAsync("orchestrator");
        var client = api.Client(key);
        Assert.Equal(200, (int)(await client.GetAsync("/v1/me")).StatusCode);
        var writes = store.LastUsedWrites;
        for (int i = 0; i < 25; i++) Assert.Equal(200, (int)(await client.GetAsync("/v1/me")).StatusCode);
        Assert.Equal(writes, store.LastUsedWrites);
    }

    [Fact]
    [Trait("Rule", "R-KEY-2")]
    public async Task A_revoked_key_is_refused_from_the_next_request_on_although_it_was_cached()
    {
        var (userId, _) = await api.NewUserAsync("keys-revoke");
        var (id, key) = await api.IssueKeyWithIdAsync("user", userId);
        var user = api.Client(key);
        Assert.Equal(200, (int)(await user.GetAsync($"/v1/wallets/{userId}")).StatusCode); // now cached
        Assert.Equal(200, (int)(await user.GetAsync($"/v1/wallets/{userId}")).StatusCode);

        var revoked = await api.Client(api.AdminKey).PostAsync($"/v1/api-keys/{id}/revoke", null);
        Assert.Equal(200, (int)revoked.StatusCode);
        Assert.NotEqual(JsonValueKind.Null, (await Json(revoked)).GetProperty("revokedAt").ValueKind);

        await AssertProblemAsync(await user.GetAsync($"/v1/wallets/{userId}"), 401, "unauthorized");
        await AssertProblemAsync(await user.GetAsync("/v1/me"), 401, "unauthorized");
        // A repeat is harmless.
        Assert.Equal(200, (int)(await api.Client(api.AdminKey).PostAsync($"/v1/api-keys/{id}/revoke", null)).StatusCode);
    }

    [Fact]
    [Trait("Rule", "R-KEY-1")]
    public async Task A_user_revokes_their_own_key_but_not_anothers()
    {
        var (userId, _) = await api.NewUserAsync("keys-own");
        var (ownId, ownKey) = await api.IssueKeyWithIdAsync("user", userId);
        var (spareId, spareKey) = await api.IssueKeyWithIdAsync("user", userId);
        var (otherUser, _) = await api.NewUserAsync("keys-other");
        var (othersId, othersKey) = await api.IssueKeyWithIdAsync("user", otherUser);
        var user = api.Client(ownKey);

        await AssertProblemAsync(await user.PostAsync($"/v1/api-keys/{othersId}/revoke", null), 404, "api_key_not_found");
        await AssertProblemAsync(await user.PostAsJsonAsync($"/v1/api-keys/{othersId}/rotate", new { graceSeconds = 0 }), 404, "api_key_not_found");
        await AssertProblemAsync(await user.PostAsync("/v1/api-keys/key_doesnotexist/revoke", null), 404, "api_key_not_found");
        Assert.Equal(200, (int)(await api.Client(othersKey).GetAsync("/v1/me")).StatusCode);

        Assert.Equal(200, (int)(await user.PostAsync($"/v1/api-keys/{spareId}/revoke", null)).StatusCode);
        await AssertProblemAsync(await api.Client(spareKey).GetAsync("/v1/me"), 401, "unauthorized");
        Assert.Equal(200, (int)(await user.GetAsync("/v1/me")).StatusCode);
        // Revoking the key one calls with works too, and is the last thing it does.
        Assert.Equal(200, (int)(await user.PostAsync($"/v1/api-keys/{ownId}/revoke", null)).StatusCode);
        await AssertProblemAsync(await user.GetAsync("/v1/me"), 401, "unauthorized");
    }

    [Fact]
    [Trait("Rule", "R-KEY-3")]
    public async Task A_rotated_key_keeps_working_for_the_grace_period_then_is_refused()
    {
        var (userId, _) = await api.NewUserAsync("keys-rotate");
        var (oldId, oldKey) = await api.IssueKeyWithIdAsync("user", userId);
        var old = api.Client(oldKey);
        Assert.Equal(200, (int)(await old.GetAsync("/v1/me")).StatusCode);

        var rotated = await old.PostAsJsonAsync($"/v1/api-keys/{oldId}/rotate", new { graceSeconds = 2 });
        Assert.Equal(201, (int)rotated.StatusCode);
        var body = await Json(rotated);
        var newId = body.GetProperty("id").GetString()!;
        var newKey = body.GetProperty("key").GetString()!;
        Assert.NotEqual(oldId, newId);
        Assert.NotEqual(oldKey, newKey);
        var fresh = api.Client(newKey);
        var me = await Json(await fresh.GetAsync("/v1/me"));
        Assert.Equal("user", me.GetProperty("role").GetString());
        Assert.Equal(userId, me.GetProperty("userId").GetString());
        Assert.Equal(200, (int)(await old.GetAsync("/v1/me")).StatusCode); // within the grace

        // A key already rotated is not rotated again.
        await AssertProblemAsync(await fresh.PostAsJsonAsync($"/v1/api-keys/{oldId}/rotate", new { graceSeconds = 0 }), 409, "api_key_not_active");

        api.Clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMicroseconds(1)); // the grace's last microsecond
        Assert.Equal(200, (int)(await old.GetAsync("/v1/me")).StatusCode);
        api.Clock.Advance(TimeSpan.FromMicroseconds(1)); // the end of the grace
        await AssertProblemAsync(await old.GetAsync("/v1/me"), 401, "unauthorized");
        Assert.Equal(200, (int)(await fresh.GetAsync("/v1/me")).StatusCode);

        // Without grace, the old key ends at once.
        var again = await fresh.PostAsJsonAsync($"/v1/api-keys/{newId}/rotate", new { graceSeconds = 0 });
        Assert.Equal(201, (int)again.StatusCode);
        var againBody = await Json(again);
        await AssertProblemAsync(await fresh.GetAsync("/v1/me"), 401, "unauthorized");
        Assert.Equal(200, (int)(await api.Client(againBody.GetProperty("key").GetString()!).GetAsync("/v1/me")).StatusCode);

        await AssertProblemAsync(await api.Client(api.AdminKey).PostAsJsonAsync($"/v1/api-keys/{newId}/rotate", new { graceSeconds = -1 }), 400, "invalid_request");

        // Without a body, the default grace (an hour): both keys work for now.
        var third = api.Client(againBody.GetProperty("key").GetString()!);
        var thirdId = againBody.GetProperty("id").GetString()!;
        var fourth = await third.PostAsync($"/v1/api-keys/{thirdId}/rotate", null);
        Assert.Equal(201, (int)fourth.StatusCode);
        Assert.Equal(200, (int)(await third.GetAsync("/v1/me")).StatusCode);
        var listed = Assert.Single(await ListAsync(third), k => k.GetProperty("id").GetString() == thirdId);
        Assert.Equal(api.Clock.GetUtcNow().AddHours(1), listed.GetProperty("expiresAt").GetDateTimeOffset());
    }

    [Fact]
    [Trait("Rule", "R-KEY-4")]
    public async Task A_key_with_an_expiry_works_until_then_and_is_refused_afterwards()
    {
        var (id, key) = await api.IssueKeyWithIdAsync("orchestrator", null, api.Clock.GetUtcNow().AddSeconds(2));
        var client = api.Client(key);
        Assert.Equal(200, (int)(await client.GetAsync("/v1/me")).StatusCode);
        api.Clock.Advance(TimeSpan.FromSeconds(2) - TimeSpan.FromMicroseconds(1)); // the key's last microsecond
        Assert.Equal(200, (int)(await client.GetAsync("/v1/me")).StatusCode);
        api.Clock.Advance(TimeSpan.FromMicroseconds(1)); // its expiry
        await AssertProblemAsync(await client.GetAsync("/v1/me"), 401, "unauthorized");
        Assert.Single(await ListAsync(api.Client(api.AdminKey)), k => k.GetProperty("id").GetString() == id);

        var past = await api.Client(api.AdminKey).PostAsJsonAsync("/v1/api-keys", new { role = "orchestrator", expiresAt = api.Clock.GetUtcNow().AddMinutes(-1) });
        await AssertProblemAsync(past, 400, "invalid_request");
    }

    [Fact]
    [Trait("Rule", "R-KEY-2")]
    [Trait("Rule", "R-KEY-5")]
    public async Task The_last_admin_key_cannot_be_revoked_and_a_revoked_bootstrap_key_stays_revoked_across_restarts()
    {
        // A system of its own: the shared one has more admin keys, and its bootstrap key must keep working.
        var own = new ApiHost();
        await own.InitializeAsync();
        try
        {
            var bootstrap = own.Client(own.AdminKey);
            var admins = (await ListAsync(bootstrap)).Where(k => k.GetProperty("role").GetString() == "admin").ToList();
            var bootstrapId = Assert.Single(admins).GetProperty("id").GetString()!;
            Assert.StartsWith(admins[0].GetProperty("prefix").GetString()!, own.AdminKey);

            await AssertProblemAsync(await bootstrap.PostAsync($"/v1/api-keys/{bootstrapId}/revoke", null), 409, "last_admin_key");
            Assert.Equal(200, (int)(await bootstrap.GetAsync("/v1/me")).StatusCode);

            var (secondId, secondKey) = await own.IssueKeyWithIdAsync("admin");
            var second = own.Client(secondKey);
            Assert.Equal(200, (int)(await second.PostAsync($"/v1/api-keys/{bootstrapId}/revoke", null)).StatusCode);
            await AssertProblemAsync(await bootstrap.GetAsync("/v1/me"), 401, "unauthorized");
            await AssertProblemAsync(await second.PostAsync($"/v1/api-keys/{secondId}/revoke", null), 409, "last_admin_key");

            // A restart: the configuration still names the bootstrap key; it stays revoked.
            await using var restarted = own.Factory.WithWebHostBuilder(_ => { });
            await ApiHost.BootstrapAdminKeyStoredAsync(restarted.Services, TimeSpan.FromSeconds(15));
            var again = restarted.CreateClient();
            again.DefaultRequestHeaders.Authorization = new("Bearer", own.AdminKey);
            await AssertProblemAsync(await again.GetAsync("/v1/me"), 401, "unauthorized");
            again.DefaultRequestHeaders.Authorization = new("Bearer", secondKey);
            Assert.Equal(200, (int)(await again.GetAsync("/v1/me")).StatusCode);
        }
        finally
        {
            await own.DisposeAsync();
        }
    }

    [Fact]
    public void A_bootstrap_key_shorter_than_the_minimum_is_named_as_the_reason_not_to_start()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Qubrid:BootstrapAdminKey"] = "tooshort" }).Build();
        var problem = BootstrapAdminKey.Problem(config);
        Assert.NotNull(problem);
        Assert.Contains("Qubrid:BootstrapAdminKey", problem);
        Assert.Contains($"at least {ApiKeyStore.MinKeyLength}", problem);
        config["Qubrid:BootstrapAdminKey"] = new string('k', ApiKeyStore.MinKeyLength);
        Assert.Null(BootstrapAdminKey.Problem(config));
    }

    [Fact]
    public async Task The_api_refuses_to_start_with_a_bootstrap_key_shorter_than_the_minimum()
    {
        var dll = typeof(BootstrapAdminKey).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["ConnectionStrings__Qubrid"] = api.ConnectionString;
        start.Environment["Qubrid__BootstrapAdminKey"] = "short-key";
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{SiloHosts.FreePort()}";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail("The API started (was still running after 30 s) with a 9-character bootstrap key.");
        }
        Assert.NotEqual(0, process.ExitCode);
        var error = await stderr;
        Assert.Contains("Qubrid:BootstrapAdminKey", error);
        Assert.Contains($"at least {ApiKeyStore.MinKeyLength}", error);
        _ = await stdout;
    }
}
