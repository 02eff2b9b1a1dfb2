using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// Refusals the framework answers itself (no route, a method the route does not list, a wrong content type, an oversize
/// chunked body) and JSON the serializer would bend (duplicate members, quoted numbers, more digits than a decimal keeps)
/// are problem+json with a stable code like every other refusal, and change nothing.
/// </summary>
[Collection(ApiCollection.Name)]
public class FrameworkRefusalTests(ApiHost api)
{
    [Theory]
    [InlineData("GET", "/v1/nothing-here")]
    [InlineData("GET", "/nothing/here")]
    [InlineData("POST", "/v1/wallets/x/nothing")]
    public async Task An_unmatched_route_is_404_not_found(string method, string path)
    {
        var response = await api.Client(api.AdminKey).SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await AssertProblemAsync(response, 404, "not_found", $"{method} {path}");
    }

    [Theory]
    [InlineData("DELETE", "/v1/wallets/{u}")]
    [InlineData("PATCH", "/v1/wallets/{u}/grants")]
    [InlineData("DELETE", "/v1/rates")]
    [InlineData("PUT", "/v1/inference/charges")]
    [InlineData("DELETE", "/metrics")]
    [InlineData("PUT", "/metrics")]
    [InlineData("POST", "/metrics")]
    public async Task A_method_the_route_does_not_list_is_405_method_not_allowed(string method, string path)
    {
        var (userId, _) = await api.NewUserAsync("fw-405");
        var before = await SnapshotAsync(userId);
        var response = await api.Client(api.AdminKey).SendAsync(new HttpRequestMessage(new HttpMethod(method), path.Replace("{u}", userId)));
        await AssertProblemAsync(response, 405, "method_not_allowed", $"{method} {path}");
        Assert.Equal(before, await SnapshotAsync(userId));
    }

    [Fact]
    public async Task Metrics_still_answer_GET()
    {
        var response = await api.Client().GetAsync("/metrics");
        Assert.Equal(200, (int)response.StatusCode);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    public async Task A_body_that_is_not_JSON_by_its_content_type_is_415_unsupported_media_type(string contentType)
    {
        var (userId, _) = await api.NewUserAsync("fw-415");
        var before = await SnapshotAsync(userId);
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/wallets/{userId}/refunds")
        {
            Content = new StringContent("""{"amount": 1, "reason": "x"}""", Encoding.UTF8, contentType),
        };
        request.Headers.Add("Idempotency-Key", Key());
        var response = await api.Client(api.AdminKey).SendAsync(request);
        await AssertProblemAsync(response, 415, "unsupported_media_type", contentType);
        Assert.Equal(before, await SnapshotAsync(userId));
    }

    [Fact]
    [Trait("Rule", "R-INPUT-4")]
    public async Task An_oversize_chunked_body_without_a_length_is_413_payload_too_large()
    {
        var (userId, _) = await api.NewUserAsync("fw-413");
        var before = await SnapshotAsync(userId);
        var json = Encoding.UTF8.GetBytes($$"""{"amount": 1, "reason": "{{new string('x', 20_000)}}"}""");
        var content = new StreamContent(new UnseekableStream(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/wallets/{userId}/refunds") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.Add("Idempotency-Key", Key());
        var response = await api.Client(api.AdminKey).SendAsync(request);
        await AssertProblemAsync(response, 413, "payload_too_large");
        Assert.Equal(before, await SnapshotAsync(userId));
    }

    [Theory]
    [InlineData("refunds", """{"amount": -5, "amount": 10, "reason": "x"}""", "invalid_request")]
    [InlineData("refunds", """{"amount": 10, "reason": "x", "reason": "y"}""", "invalid_request")]
    [InlineData("refunds", """{"amount": "10", "reason": "x"}""", "invalid_amount")]
    [InlineData("adjustments", """{"amount": "-1", "reason": "x"}""", "invalid_amount")]
    [InlineData("refunds", """{"amount": 1.00000000000000000000000000001, "reason": "x"}""", "invalid_amount")]
    [InlineData("refunds", """{"amount": 0.0000000000000000000000000000001, "reason": "x"}""", "invalid_amount")]
    [InlineData("refunds", """{"amount": 1e-40, "reason": "x"}""", "invalid_amount")]
    [InlineData("refunds", """{"amount": 1e99999999999999999999, "reason": "x"}""", "invalid_amount")]
    public async Task Duplicate_members_quoted_numbers_and_over_precise_amounts_are_refused(string call, string json, string code)
    {
        var (userId, _) = await api.NewUserAsync("fw-json");
        var before = await SnapshotAsync(userId);
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/wallets/{userId}/{call}") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", Key());
        var response = await api.Client(api.AdminKey).SendAsync(request);
        await AssertProblemAsync(response, 400, code, json);
        Assert.Equal(before, await SnapshotAsync(userId));
    }

    [Fact]
    public async Task Quoted_token_counts_are_refused()
    {
        var (userId, _) = await api.NewUserAsync("fw-tokens");
        var orchestrator = api.Client(await api.IssueKeyAsync("orchestrator"));
        var before = await SnapshotAsync(userId);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/inference/charges")
        {
            Content = new StringContent($$"""{"userId": "{{userId}}", "model": "deepseek-r1", "inputTokens": "10", "outputTokens": 1}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", Key());
        await AssertProblemAsync(await orchestrator.SendAsync(request), 400, "invalid_request");
        Assert.Equal(before, await SnapshotAsync(userId));
    }

    [Fact]
    public async Task An_exact_amount_with_trailing_zeros_is_still_accepted()
    {
        var (userId, _) = await api.NewUserAsync("fw-exact");
        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/wallets/{userId}/refunds")
        {
            Content = new StringContent("""{"amount": 1.250000000000000000000000000000000, "reason": "x"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", Key());
        var response = await api.Client(api.AdminKey).SendAsync(request);
        Assert.Equal(201, (int)response.StatusCode);
        Assert.Equal(1.25m, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("amount").GetDecimal());
    }

    [Theory]
    [InlineData("usage?to=0001-01-02")]
    [InlineData("usage?from=0001-01-01&to=0001-01-02")]
    [InlineData("usage?from=9999-12-30")]
    [InlineData("usage?to=9999-12-31T23:59:59Z")]
    [InlineData("ledger?from=0001-01-01")]
    [InlineData("ledger?to=9999-12-31T23:59:59Z")]
    [InlineData("ledger.csv?from=0001-01-01&to=0001-01-02")]
    public async Task Times_at_the_edges_of_the_calendar_are_a_clean_400(string query)
    {
        var (userId, user) = await api.NewUserAsync("fw-time");
        var response = await user.GetAsync($"/v1/wallets/{userId}/{query}");
        await AssertProblemAsync(response, 400, "invalid_request", query);
    }

    [Fact]
    [Trait("Rule", "R-INPUT-3")]
    public async Task An_id_ending_in_a_newline_is_refused_and_creates_no_wallet()
    {
        var before = await SnapshotAsync("alice\n");
        var response = await api.Client(api.AdminKey).PutAsync("/v1/wallets/alice%0A", null);
        await AssertProblemAsync(response, 400, "invalid_request");
        Assert.Equal(before, await SnapshotAsync("alice\n"));
    }

    [Fact]
    [Trait("Rule", "R-MONEY-1")]
    public async Task The_document_describes_amounts_as_JSON_numbers_only()
    {
        using var doc = JsonDocument.Parse(await api.Client().GetStringAsync("/openapi/v1.json"));
        var schemas = doc.RootElement.GetProperty("components").GetProperty("schemas");
        foreach (var (schema, property) in new[] { ("RefundRequest", "amount"), ("RateBody", "usdPerHour"), ("WalletDto", "total") })
        {
            var amount = schemas.GetProperty(schema).GetProperty("properties").GetProperty(property);
            var types = amount.GetProperty("type") is { ValueKind: JsonValueKind.Array } list ? list.EnumerateArray().Select(t => t.GetString()).ToList() : [amount.GetProperty("type").GetString()];
            Assert.Contains("number", types);
            Assert.DoesNotContain("string", types); // a quoted number is refused
            Assert.Equal("decimal", amount.GetProperty("format").GetString());
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    private static string Key() => $"fw-{Guid.NewGuid():N}";

    /// <summary>Every wallet's balance and every ledger row: what no refusal may change.</summary>
    /// <summary>
    /// The test's own wallet and the number of wallets: other tests of the shared host may leave sessions charging
    /// their wallets in the background, so the whole ledger is not still while a test runs.
    /// </summary>
    private async Task<(long Balance, long Wallets, long Ledger)> SnapshotAsync(string userId) =>
        (await TestDatabase.ScalarAsync(api.Db, "SELECT coalesce(sum(balance), 0) FROM qubrid_wallets WHERE wallet_id = $1", userId),
         await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_wallets"),
         await TestDatabase.ScalarAsync(api.Db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", userId));

    private static async Task AssertProblemAsync(HttpResponseMessage response, int status, string code, string? what = null)
    {
        var label = what ?? code;
        var body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"{label}: expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json",
            $"{label}: expected application/problem+json, got '{response.Content.Headers.ContentType}': {body}");
        using var problem = JsonDocument.Parse(body);
        Assert.True(problem.RootElement.TryGetProperty("code", out var actual) && actual.GetString() == code, $"{label}: expected code {code}: {body}");
        Assert.Equal(status, problem.RootElement.GetProperty("status").GetInt32());
    }

    /// <summary>A body of unknown length: sent chunked, so only reading it can find it too large.</summary>
    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => base.Position; set => throw new NotSupportedException(); }
    }
}

/// <summary>
/// The same refusals from the real server (Kestrel on a loopback port, raw HTTP/1.1): a chunked body over the limit is
/// 413 problem+json, a chunked body that breaks the chunked framing is 400 problem+json.
/// </summary>
[Collection(ApiCollection.Name)]
public class KestrelRefusalTests(ApiHost api)
{
    [Fact]
    public async Task Kestrel_refusals_of_a_chunked_body_are_problem_json_with_a_code()
    {
        await using var factory = api.Factory.WithWebHostBuilder(web => web.UseSetting("urls", "http://127.0.0.1:0"));
        factory.UseKestrel(0);
        factory.StartServer();
        var address = new Uri(factory.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features
            .Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First());
        await ApiHost.BootstrapAdminKeyStoredAsync(factory.Services, TimeSpan.FromSeconds(15));
        var (userId, _) = await api.NewUserAsync("kestrel");

        var chunk = $$"""{"amount": 1, "reason": "{{new string('x', 3000)}}"}""";
        var oversize = $"{chunk.Length:X}\r\n{chunk}\r\n{chunk.Length:X}\r\n{chunk}\r\n0\r\n\r\n";
        var (status, type, body) = await RawAsync(address, userId, oversize);
        Assert.True(status == 413 && type == "application/problem+json" && body.Contains("\"code\":\"payload_too_large\""), $"{status} {type}: {body}");

        (status, type, body) = await RawAsync(address, userId, "zz\r\n{}\r\n0\r\n\r\n");
        Assert.True(status == 400 && type == "application/problem+json" && body.Contains("\"code\":\"invalid_request\""), $"{status} {type}: {body}");
        Assert.Equal(5m, (await (await api.Client(api.AdminKey).GetAsync($"/v1/wallets/{userId}")).Content
            .ReadFromJsonAsync<JsonElement>()).GetProperty("total").GetDecimal());
    }

    private async Task<(int Status, string? Type, string Body)> RawAsync(Uri server, string userId, string chunkedBody)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        await using var stream = tcp.GetStream();
        var head = $"POST /v1/wallets/{userId}/refunds HTTP/1.1\r\nHost: {server.Authority}\r\nAuthorization: Bearer {api.AdminKey}\r\n" +
            $"Idempotency-Key: k-{Guid.NewGuid():N}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + chunkedBody));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));
        var status = int.Parse(response.Split(' ')[1]);
        var headers = response[..response.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n");
        var type = headers.FirstOrDefault(h => h.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))?.Split(':', 2)[1].Split(';')[0].Trim();
        return (status, type, response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
    }
}
