using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Qubrid.Api.Apis;

namespace Qubrid.Api.Extensions;

/// <summary>The problem codes an endpoint can answer besides those every endpoint of its kind answers (see <see cref="OpenApiContract"/>).</summary>
public sealed record ProblemCodesMetadata(IReadOnlyList<string> Codes);

/// <summary>
/// A 200 answer in another media type than JSON (a printable page, a CSV file), as text: added to the operation's 200
/// response beside what its typed results declare, not instead of it (an endpoint that negotiates answers both).
/// </summary>
public sealed record AlternativeContentMetadata(string MediaType);

/// <summary>Marks an endpoint that refuses a call without an <c>Idempotency-Key</c> header.</summary>
public sealed record IdempotencyKeyMetadata;

public static class OpenApiEndpointExtensions
{
    /// <summary>Declares the problem codes this endpoint answers: each becomes a problem+json response with the codes of its status.</summary>
    public static RouteHandlerBuilder Refuses(this RouteHandlerBuilder builder, params string[] codes) =>
        builder.WithMetadata(new ProblemCodesMetadata(codes));

    /// <summary>Declares the required <c>Idempotency-Key</c> header (the handler checks it with <see cref="ApiRequest.IdempotencyKey"/>).</summary>
    public static RouteHandlerBuilder RequiresIdempotencyKey(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new IdempotencyKeyMetadata());
}

/// <summary>
/// Makes /openapi/v1.json a contract third-party generators can use: the Bearer scheme on every operation that needs a key,
/// problem+json responses with their codes, the Idempotency-Key header, typed query parameters, request examples,
/// amounts as decimal numbers, named servers without a trailing slash and described tags.
/// </summary>
public static class OpenApiContract
{
    public const string BearerScheme = "Bearer";
    public const string ProblemSchema = "Problem";
    private const string ProblemJson = "application/problem+json";

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Catalog", "What things cost (instance rates, model and premium prices, top-up options) and who the caller is."),
        ("Keys", "API keys: issued by an admin; a user key belongs to one wallet."),
        ("Wallets", "Balances, credit lots, the ledger, usage reports, top-ups, and the admin's grants, adjustments and refunds."),
        ("Sessions", "GPU session metering for the orchestrator, and the event stream it watches."),
        ("Charges", "Inference queries and premium access, charged by the orchestrator after they ran."),
        ("Promotions", "Promotions with a shared code or generated single-use codes (admin); users redeem codes under Wallets."),
        ("Webhooks", "Signed event deliveries to the caller's endpoints, at least once and in order; their delivery log and replays."),
    ];

    public static void Configure(OpenApiOptions options)
    {
        options.AddSchemaTransformer(TransformSchema);
        options.AddOperationTransformer(TransformOperation);
        options.AddDocumentTransformer(TransformDocument);
    }

    private static Task TransformDocument(OpenApiDocument doc, OpenApiDocumentTransformerContext context, CancellationToken ct)
    {
        doc.Info.Title = "Qubrid Credits API";
        doc.Info.Description = "Credit wallets and usage billing. Every call carries 'Authorization: Bearer <api key>' (except GET /v1/rates); "
            + "money calls carry 'Idempotency-Key'. Amounts are USD numbers exact to 6 decimals. Errors are application/problem+json with a stable 'code'.";
        foreach (var server in doc.Servers ?? []) server.Url = server.Url?.TrimEnd('/');
        doc.Components ??= new OpenApiComponents();
        doc.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        doc.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http, Scheme = "bearer", Description = "An API key issued by POST /v1/api-keys (or the bootstrap admin key).",
        };
        doc.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        doc.Components.Schemas[ProblemSchema] = new OpenApiSchema
        {
            Type = JsonSchemaType.Object,
            Description = "RFC 9457 problem details with the stable code of the refusal.",
            Required = new HashSet<string> { "title", "status", "code" },
            Properties = new Dictionary<string, IOpenApiSchema>
            {
                ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A URI naming the kind of problem." },
                ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
                ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
                ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What was wrong, for a person." },
                ["instance"] = new OpenApiSchema { Type = JsonSchemaType.String },
                ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What was wrong, for a program: stable across releases." },
                ["traceId"] = new OpenApiSchema { Type = JsonSchemaType.String },
            },
        };
        var used = new HashSet<string>(doc.Paths.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []).SelectMany(o => o.Tags?.AsEnumerable() ?? []).Select(t => t.Name!));
        doc.Tags = new HashSet<OpenApiTag>(Tags.Where(t => used.Contains(t.Name)).Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
        return Task.CompletedTask;
    }

    private static Task TransformOperation(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var path = "/" + (context.Description.RelativePath ?? "");
        var codes = new List<string>();
        bool anonymous = metadata.OfType<IAllowAnonymous>().Any();
        var authorize = metadata.OfType<IAuthorizeData>().ToList();
        if (!anonymous && authorize.Count > 0)
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, context.Document)] = [] }];
            codes.Add(ApiProblems.Unauthorized);
            if (authorize.Any(a => a.Policy is not null || a.Roles is not null)) codes.Add(ApiProblems.Forbidden);
        }
        else
        {
            operation.Security = [new OpenApiSecurityRequirement()]; // {}: no key needed, said explicitly
        }
        if (operation.RequestBody is not null)
        {
            codes.AddRange([ErrorCodes.InvalidRequest, ApiProblems.PayloadTooLarge]);
            var bodyType = context.Description.ParameterDescriptions.FirstOrDefault(p => p.Source == Microsoft.AspNetCore.Mvc.ModelBinding.BindingSource.Body)?.Type;
            if (bodyType is not null && Examples.TryGetValue(bodyType, out var example))
            {
                foreach (var media in operation.RequestBody.Content?.Values ?? []) media.Example = example.DeepClone();
            }
        }
        if (metadata.OfType<IdempotencyKeyMetadata>().Any())
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = ApiRequest.IdempotencyHeader, In = ParameterLocation.Header, Required = true,
                Description = "Any unique string (e.g. a UUID), 1–128 printable characters: a repeat with the same key is answered with the first result and changes nothing.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 128 },
                Example = JsonValue.Create("4f1c2d2e-8b1a-4c55-9a43-0d6f3f0b7e21"),
            });
            codes.AddRange([ErrorCodes.IdempotencyKeyRequired, ErrorCodes.InvalidRequest, ApiProblems.WalletBusy]);
        }
        codes.AddRange(metadata.OfType<ProblemCodesMetadata>().SelectMany(m => m.Codes));
        if (path.StartsWith("/v1/", StringComparison.Ordinal)) codes.AddRange([ApiProblems.RateLimited, ApiProblems.Unavailable]);
        DescribeParameters(operation, path);
        AddAlternativeContent(operation, metadata.OfType<AlternativeContentMetadata>().Select(m => m.MediaType).Distinct());

        AddProblemResponses(operation, codes, context.Document);
        return Task.CompletedTask;
    }

    /// <summary>The other media types of the 200 answer, each a text body, kept beside the JSON one when the endpoint has both.</summary>
    private static void AddAlternativeContent(OpenApiOperation operation, IEnumerable<string> mediaTypes)
    {
        foreach (var mediaType in mediaTypes)
        {
            operation.Responses ??= new OpenApiResponses();
            if (!(operation.Responses.TryGetValue("200", out var existing) && existing is OpenApiResponse ok))
                operation.Responses["200"] = ok = new OpenApiResponse { Description = "OK" };
            ok.Content ??= new Dictionary<string, OpenApiMediaType>();
            ok.Content[mediaType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
        }
    }

    /// <summary>One problem+json response per status, its <c>code</c> an enum of the codes the operation can answer with it.</summary>
    private static void AddProblemResponses(OpenApiOperation operation, List<string> codes, OpenApiDocument? document)
    {
        operation.Responses ??= new OpenApiResponses();
        foreach (var byStatus in codes.Distinct().GroupBy(ApiProblems.StatusOf).OrderBy(g => g.Key))
        {
            var status = byStatus.Key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var response = operation.Responses.TryGetValue(status, out var existing) && existing is OpenApiResponse r ? r : new OpenApiResponse();
            response.Description = string.Join("; ", byStatus.Select(ApiProblems.TitleOf).Distinct()) + ".";
            response.Content = new Dictionary<string, OpenApiMediaType>
            {
                [ProblemJson] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema
                    {
                        AllOf =
                        [
                            new OpenApiSchemaReference(ProblemSchema, document),
                            new OpenApiSchema
                            {
                                Type = JsonSchemaType.Object,
                                Properties = new Dictionary<string, IOpenApiSchema>
                                {
                                    ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Enum = byStatus.Select(c => (JsonNode)JsonValue.Create(c)!).ToList() },
                                },
                            },
                        ],
                    },
                },
            };
            operation.Responses[status] = response;
        }
    }

    /// <summary>The handlers bind query values as text so that a bad value gets their own problem and message; the document says what the text must be.</summary>
    private static void DescribeParameters(OpenApiOperation operation, string path)
    {
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>().Where(p => p.In == ParameterLocation.Path))
        {
            if (parameter.Name is "userId" or "sessionId" or "walletId" or "promotionId") parameter.Schema = Id();
        }
        foreach (var parameter in (operation.Parameters ?? []).OfType<OpenApiParameter>().Where(p => p.In == ParameterLocation.Query))
        {
            (IOpenApiSchema? schema, string? description) = parameter.Name switch
            {
                "kind" => (new OpenApiSchema
                {
                    Type = JsonSchemaType.Array,
                    Items = Enumerated(Enum.GetValues<LedgerEntryKind>().Select(k => k.ToWire())),
                }, "Only entries of these kinds (repeat the parameter or separate with commas)."),
                "from" => (new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" }, "From this time (ISO-8601, UTC if no offset), inclusive."),
                "to" => (new OpenApiSchema { Type = JsonSchemaType.String, Format = "date-time" }, "Up to this time (ISO-8601, UTC if no offset), exclusive."),
                "cursor" => (new OpenApiSchema { Type = JsonSchemaType.String }, "The nextCursor of the previous page."),
                "limit" => (new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1",
                    Maximum = (path.StartsWith("/v1/sessions", StringComparison.Ordinal) ? SessionQuery.MaxLimit : LedgerQuery.MaxLimit).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Default = JsonValue.Create(50),
                }, "Page size."),
                "groupBy" => (Enumerated(UsageReport.Groupings.Order(StringComparer.Ordinal), UsageReport.Day), "How to group the spending (default: day)."),
                "state" => (Enumerated(Enum.GetValues<SessionState>().Select(s => s.ToWire())), "Only sessions in this state."),
                "userId" => (Id(), "Only this user's sessions (a user key sees only its own)."),
                _ => (null, null),
            };
            if (schema is not null) parameter.Schema = schema;
            if (description is not null) parameter.Description ??= description;
        }
    }

    /// <summary>User and session ids: see <see cref="ApiProblems.IsValidId"/>.</summary>
    private static OpenApiSchema Id() => new() { Type = JsonSchemaType.String, Pattern = "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$", MaxLength = 128 };

    private static OpenApiSchema Enumerated(IEnumerable<string> values, string? defaultValue = null) => new()
    {
        Type = JsonSchemaType.String,
        Enum = values.Select(v => (JsonNode)JsonValue.Create(v)!).ToList(),
        Default = defaultValue is null ? null : JsonValue.Create(defaultValue),
    };

    /// <summary>Request bodies: what a valid call looks like.</summary>
    private static readonly Dictionary<Type, JsonObject> Examples = new()
    {
        [typeof(TopupRequest)] = new() { ["amount"] = 25, ["paymentToken"] = "tok_visa" },
        [typeof(GrantRequest)] = new()
        {
            ["amount"] = 10, ["expiresAt"] = "2027-01-31T00:00:00Z", ["reason"] = "Conference voucher",
            ["scope"] = new JsonObject { ["instanceTypes"] = new JsonArray("A100"), ["workloads"] = new JsonArray("training") },
        },
        [typeof(AdjustmentRequest)] = new() { ["amount"] = -2.5m, ["reason"] = "Double-billed session gpu-42" },
        [typeof(RefundRequest)] = new() { ["amount"] = 5, ["reason"] = "Outage on 2026-11-02" },
        [typeof(StartSessionBody)] = new() { ["sessionId"] = "gpu-42", ["userId"] = "alice", ["instanceType"] = "A100", ["workload"] = "fine-tune" },
        [typeof(InferenceChargeBody)] = new() { ["userId"] = "alice", ["model"] = "llama-3.1-8b-instruct", ["inputTokens"] = 1200, ["outputTokens"] = 350 },
        [typeof(PremiumChargeBody)] = new() { ["userId"] = "alice", ["name"] = "flux-pro-image", ["reference"] = "image-7f3a" },
        [typeof(RateBody)] = new() { ["usdPerHour"] = 1.69m },
        [typeof(ApiKeyRequest)] = new() { ["role"] = "user", ["userId"] = "alice" },
        [typeof(PromotionRequest)] = new() { ["codeCount"] = 100, ["amount"] = 10, ["lotValidDays"] = 30, ["endsAt"] = "2027-01-31T00:00:00Z", ["maxRedemptions"] = 100 },
        [typeof(RedemptionBody)] = new() { ["code"] = "WELCOME2027" },
        [typeof(WebhookRequest)] = new() { ["url"] = "https://hooks.example.com/qubrid", ["events"] = new JsonArray("low_balance", "topup_succeeded") },
    };

    /// <summary>Members that are strings on the wire but take one of a few values: enumerated, so generated clients get unions.</summary>
    private static IEnumerable<string>? WireValues(Type declaringType, string member) => (declaringType.Name, member) switch
    {
        (nameof(LedgerEntryDto), "kind") => Enum.GetValues<LedgerEntryKind>().Select(k => k.ToWire()),
        (nameof(LotDto), "kind") => Enum.GetValues<LotKind>().Select(k => k.ToWire()),
        (nameof(PromotionDto), "state") => [PromotionDto.Active, PromotionDto.Disabled],
        (nameof(SessionDto), "state") => Enum.GetValues<SessionState>().Select(s => s.ToWire()),
        (nameof(ApiKeyDto) or nameof(ApiKeyRequest) or nameof(MeDto), "role") => Qubrid.Api.Auth.Roles.All,
        _ => null,
    };

    private static Task TransformSchema(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken ct)
    {
        var type = context.JsonTypeInfo.Type;
        if (context.JsonPropertyInfo is { } member && WireValues(member.DeclaringType, member.Name) is { } values)
            schema.Enum = values.Select(v => (JsonNode)JsonValue.Create(v)!).ToList();
        var nullable = schema.Type is { } t && t.HasFlag(JsonSchemaType.Null) ? JsonSchemaType.Null : 0;
        // Numbers are numbers: the exact decimal type for money (generators map format "decimal" to decimal), integers as integers.
        if (type == typeof(decimal) || type == typeof(decimal?))
        {
            schema.Type = JsonSchemaType.Number | nullable;
            schema.Format = "decimal";
            schema.Pattern = null;
        }
        else if (type == typeof(long) || type == typeof(long?) || type == typeof(int) || type == typeof(int?))
        {
            schema.Type = JsonSchemaType.Integer | nullable;
            schema.Format = type == typeof(long) || type == typeof(long?) ? "int64" : "int32";
            schema.Pattern = null;
        }
        else if (type.GetCustomAttribute<JsonUnmappedMemberHandlingAttribute>() is { UnmappedMemberHandling: JsonUnmappedMemberHandling.Disallow })
        {
            // A request: unknown members are refused, and a required member may not be null.
            schema.AdditionalPropertiesAllowed = false;
            foreach (var (name, property) in schema.Properties ?? new Dictionary<string, IOpenApiSchema>())
            {
                if (property is OpenApiSchema p && p.Type is { } pt)
                    p.Type = schema.Required?.Contains(name) == true ? pt & ~JsonSchemaType.Null : pt;
            }
        }
        return Task.CompletedTask;
    }
}
