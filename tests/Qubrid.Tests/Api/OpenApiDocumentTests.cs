using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// /openapi/v1.json is a contract generators can use (the test command also lints it with Redocly and runs a generated
/// TypeScript client, tests/openapi-client): checked here without npm, on the test host.
/// </summary>
[Collection(ApiCollection.Name)]
public class OpenApiDocumentTests(ApiHost api)
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch"];

    private async Task<JsonElement> DocumentAsync()
    {
        var response = await api.Client().GetAsync("/openapi/v1.json");
        Assert.Equal(200, (int)response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static IEnumerable<(string Name, JsonElement Operation)> Operations(JsonElement doc) =>
        doc.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(m => Methods.Contains(m.Name)).Select(m => ($"{m.Name.ToUpperInvariant()} {path.Name}", m.Value)));

    private static JsonElement Operation(JsonElement doc, string method, string path) => doc.GetProperty("paths").GetProperty(path).GetProperty(method);

    [Fact]
    public async Task No_two_paths_differ_only_by_the_names_of_their_parameters()
    {
        // Generators (openapi-typescript) and linters (Redocly's no-identical-paths) refuse such a document: one URL shape,
        // one parameter name, whichever endpoint file maps it.
        var doc = await DocumentAsync();
        var shapes = doc.GetProperty("paths").EnumerateObject()
            .GroupBy(p => System.Text.RegularExpressions.Regex.Replace(p.Name, @"\{[^}]+\}", "{}"))
            .Where(g => g.Count() > 1)
            .Select(g => string.Join(" and ", g.Select(p => p.Name)))
            .ToList();
        Assert.True(shapes.Count == 0, "paths that differ only by parameter names: " + string.Join("; ", shapes));
    }

    [Fact]
    public async Task Every_operation_but_the_rates_needs_the_bearer_key_and_has_an_operationId_a_2xx_and_problem_answers_with_codes()
    {
        var doc = await DocumentAsync();
        var scheme = doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
        var operations = Operations(doc).ToList();
        Assert.True(operations.Count >= 22, $"{operations.Count} operations");
        Assert.Equal(operations.Count, operations.Select(o => o.Operation.GetProperty("operationId").GetString()).Distinct().Count());
        foreach (var (name, operation) in operations)
        {
            var security = operation.GetProperty("security").EnumerateArray().ToList();
            if (name == "GET /v1/rates") Assert.True(security.Single().EnumerateObject().Count() == 0, name);
            else Assert.True(security.Single().TryGetProperty("Bearer", out _), name);

            var responses = operation.GetProperty("responses").EnumerateObject().ToList();
            Assert.Contains(responses, r => r.Name.StartsWith('2'));
            var problems = responses.Where(r => r.Name[0] is '4' or '5').ToList();
            Assert.NotEmpty(problems);
            foreach (var problem in problems)
            {
                var schema = problem.Value.GetProperty("content").GetProperty("application/problem+json").GetProperty("schema");
                var codes = schema.GetProperty("allOf")[1].GetProperty("properties").GetProperty("code").GetProperty("enum");
                Assert.True(codes.GetArrayLength() > 0, $"{name} {problem.Name}");
            }
        }
        var problemSchema = doc.GetProperty("components").GetProperty("schemas").GetProperty("Problem");
        Assert.Contains("code", problemSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.All(doc.GetProperty("servers").EnumerateArray(), s => Assert.False(s.GetProperty("url").GetString()!.EndsWith('/')));
        Assert.All(doc.GetProperty("tags").EnumerateArray(), t => Assert.False(string.IsNullOrEmpty(t.GetProperty("description").GetString())));
    }

    [Theory]
    // Endpoints that negotiate declare every media type they answer 200 with: a validating proxy (the test command's
    // Stoplight Prism) refused the JSON receipt when the printable page's text/html had replaced it in the document.
    [InlineData("/v1/wallets/{userId}/receipts/{number}", "application/json,text/html")]
    [InlineData("/v1/wallets/{userId}/statements/{month}", "application/json,text/csv,text/html")]
    [InlineData("/v1/wallets/{userId}/statements/{month}.csv", "text/csv")]
    [InlineData("/v1/wallets/{userId}/ledger.csv", "text/csv")]
    public async Task Each_200_declares_every_media_type_the_endpoint_answers(string path, string mediaTypes)
    {
        var ok = Operation(await DocumentAsync(), "get", path).GetProperty("responses").GetProperty("200").GetProperty("content");
        Assert.Equal(mediaTypes, string.Join(',', ok.EnumerateObject().Select(c => c.Name).Order(StringComparer.Ordinal)));
        if (ok.TryGetProperty("application/json", out var json)) Assert.True(json.GetProperty("schema").TryGetProperty("$ref", out _), $"{path}: a typed JSON answer");
        foreach (var text in ok.EnumerateObject().Where(c => c.Name.StartsWith("text/", StringComparison.Ordinal)))
            Assert.Equal("string", text.Value.GetProperty("schema").GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("post", "/v1/wallets/{userId}/topups", "402", "payment_declined")]
    [InlineData("post", "/v1/wallets/{userId}/grants", "404", "wallet_not_found")]
    [InlineData("post", "/v1/wallets/{userId}/adjustments", "402", "insufficient_credits")]
    [InlineData("post", "/v1/wallets/{userId}/refunds", "409", "idempotency_conflict")]
    [InlineData("post", "/v1/inference/charges", "402", "insufficient_credits")]
    [InlineData("post", "/v1/premium/charges", "400", "unknown_model")]
    [InlineData("post", "/v1/wallets/{walletId}/redemptions", "410", "promotion_exhausted")]
    [InlineData("post", "/v1/wallets/{walletId}/redemptions", "410", "promotion_ended")]
    [InlineData("post", "/v1/wallets/{walletId}/redemptions", "404", "promotion_not_found")]
    [InlineData("post", "/v1/wallets/{walletId}/redemptions", "409", "already_redeemed")]
    public async Task Money_calls_declare_the_required_Idempotency_Key_header_and_their_codes(string method, string path, string status, string code)
    {
        var operation = Operation(await DocumentAsync(), method, path);

        var header = operation.GetProperty("parameters").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "Idempotency-Key");
        Assert.Equal("header", header.GetProperty("in").GetString());
        Assert.True(header.GetProperty("required").GetBoolean());
        var codes = operation.GetProperty("responses").GetProperty(status).GetProperty("content").GetProperty("application/problem+json")
            .GetProperty("schema").GetProperty("allOf")[1].GetProperty("properties").GetProperty("code").GetProperty("enum");
        Assert.Contains(code, codes.EnumerateArray().Select(c => c.GetString()));
        Assert.Contains("idempotency_key_required", operation.GetProperty("responses").GetProperty("400").GetProperty("content")
            .GetProperty("application/problem+json").GetProperty("schema").GetProperty("allOf")[1].GetProperty("properties")
            .GetProperty("code").GetProperty("enum").EnumerateArray().Select(c => c.GetString()));
        Assert.True(operation.GetProperty("requestBody").GetProperty("content").GetProperty("application/json").TryGetProperty("example", out _));
    }

    [Theory]
    [InlineData("/v1/wallets/{userId}/ledger", "kind:array from:string to:string cursor:string limit:integer")]
    [InlineData("/v1/wallets/{userId}/ledger.csv", "kind:array from:string to:string cursor:string limit:integer")]
    [InlineData("/v1/wallets/{userId}/usage", "from:string to:string groupBy:string")]
    [InlineData("/v1/sessions", "userId:string state:string cursor:string limit:integer")]
    [InlineData("/v1/sessions/events", "after:integer")]
    public async Task Query_parameters_are_declared_with_their_types(string path, string expected)
    {
        var operation = Operation(await DocumentAsync(), "get", path);

        var query = operation.GetProperty("parameters").EnumerateArray().Where(p => p.GetProperty("in").GetString() == "query")
            .Select(p => $"{p.GetProperty("name").GetString()}:{p.GetProperty("schema").GetProperty("type").GetString()}");
        Assert.Equal(expected, string.Join(' ', query));
    }

    [Fact]
    [Trait("Rule", "R-MONEY-1")]
    public async Task Amounts_are_decimal_numbers_and_optional_members_are_not_required()
    {
        var schemas = (await DocumentAsync()).GetProperty("components").GetProperty("schemas");

        foreach (var (schema, property) in new[] { ("WalletDto", "total"), ("TopupRequest", "amount"), ("LedgerEntryDto", "amount"), ("TopupOptionsDto", "min") })
        {
            var amount = schemas.GetProperty(schema).GetProperty("properties").GetProperty(property);
            Assert.Equal("number", amount.GetProperty("type").GetString());
            Assert.Equal("decimal", amount.GetProperty("format").GetString());
        }
        string[] Required(string schema) => schemas.GetProperty(schema).GetProperty("required").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(new[] { "role" }, Required("ApiKeyRequest"));
        Assert.Equal(new[] { "sessionId", "userId", "instanceType" }, Required("StartSessionBody"));
        Assert.Equal(new[] { "userId", "name" }, Required("PremiumChargeBody"));
        Assert.Equal(new[] { "amount", "paymentToken" }, Required("TopupRequest"));
        foreach (var named in new[] { "MeDto", "ModelsDto", "TopupOptionsDto" }) Assert.True(schemas.TryGetProperty(named, out _), named);
    }
}
