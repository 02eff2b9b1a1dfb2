using Microsoft.Extensions.DependencyInjection.Extensions;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.RateLimiting;
using Npgsql;
using Qubrid.Api.Apis;
using Qubrid.Api.Auth;
using Qubrid.Payments;
using Qubrid.ServiceDefaults;
using Scalar.AspNetCore;

namespace Qubrid.Api.Extensions;

/// <summary>Authorization policy names: one per role.</summary>
public static class Policies
{
    public const string Admin = "admin";
    public const string Orchestrator = "orchestrator";
    public const string User = "user";

    /// <summary>Who may manage keys: the admin (all) and users (their own).</summary>
    public const string KeyOwner = "key-owner";
}

/// <summary>Knobs of the HTTP API.</summary>
public sealed class ApiOptions
{
    public const string Section = "Qubrid:Api";

    /// <summary>Largest request body accepted, in bytes.</summary>
    public long MaxBodyBytes { get; set; } = 16 * 1024;

    /// <summary>Requests per second per API key (token bucket refill), and the burst above it.</summary>
    public int RequestsPerSecondPerKey { get; set; } = 2_000;
    public int BurstPerKey { get; set; } = 4_000;

    /// <summary>Requests per second per client address without a valid key (anonymous endpoints, unknown keys), and the burst above it.</summary>
    public int AnonymousRequestsPerSecondPerAddress { get; set; } = 50;
    public int AnonymousBurstPerAddress { get; set; } = 200;

    /// <summary>Database lookups of keys that turn out unknown, per client address: the burst, and the refill per second. Beyond it, 429 without a lookup.</summary>
    public int UnknownKeyLookupBurstPerAddress { get; set; } = 5;
    public double UnknownKeyLookupsPerSecondPerAddress { get; set; } = 1;

    /// <summary>How long a valid key is cached (also how long a revocation may take to reach other API processes), and an unknown or revoked one.</summary>
    public int KeyCacheSeconds { get; set; } = 15;
    public int UnknownKeyCacheSeconds { get; set; } = 30;

    /// <summary>
    /// How long a user's role in an organization is cached for the organization's wallet routes (reads and settings; usage
    /// billed to an organization always asks the organization). A change made through this process drops it at once.
    /// </summary>
    public int MembershipCacheSeconds { get; set; } = 5;

    /// <summary>Open event streams per API key on one API process.</summary>
    public int MaxEventStreamsPerKey { get; set; } = 4;

    /// <summary>How often the event stream looks for new events.</summary>
    public TimeSpan EventPollInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// Graceful stop (SIGTERM): how long the process keeps serving, while /health/ready already answers 503, so that a
    /// load balancer takes it out before it stops listening (0 without one). See <see cref="ApiDrain"/>.
    /// </summary>
    public TimeSpan DrainDelay { get; set; } = TimeSpan.Zero;

    /// <summary>The bound on a graceful stop: the drain delay, then the requests in flight finishing.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The reconnection delay an event stream ended by a graceful stop asks of its client (the SSE <c>retry:</c> field).</summary>
    public TimeSpan EventStreamRetryAfterStop { get; set; } = TimeSpan.FromSeconds(1);
}

public static class ApiHostingExtensions
{
    public static WebApplicationBuilder AddQubridApi(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ApiOptions>().Bind(builder.Configuration.GetSection(ApiOptions.Section))
            .Validate(o => o.MaxBodyBytes is > 0 and <= 10_000_000 && o.RequestsPerSecondPerKey > 0 && o.BurstPerKey > 0
                && o.AnonymousRequestsPerSecondPerAddress > 0 && o.AnonymousBurstPerAddress > 0
                && o.UnknownKeyLookupBurstPerAddress > 0 && o.UnknownKeyLookupsPerSecondPerAddress > 0
                && o.KeyCacheSeconds is > 0 and <= 300 && o.UnknownKeyCacheSeconds is > 0 and <= 3600 && o.MaxEventStreamsPerKey > 0
                && o.DrainDelay >= TimeSpan.Zero && o.ShutdownTimeout > o.DrainDelay && o.ShutdownTimeout <= TimeSpan.FromMinutes(10)
                && o.EventStreamRetryAfterStop > TimeSpan.Zero,
                "Qubrid:Api settings out of range.")
            .ValidateOnStart();
        services.AddOptions<TopupOptions>().Bind(builder.Configuration.GetSection(TopupOptions.Section))
            .Validate(o => o.Min > 0 && o.Max >= o.Min && o.Presets.All(p => p >= o.Min && p <= o.Max), "Qubrid:Topup presets must lie within Min and Max.")
            .ValidateOnStart();
        services.AddOptions<RedemptionOptions>().Bind(builder.Configuration.GetSection(RedemptionOptions.Section))
            .Validate(o => o.MaxFailuresPerKey > 0 && o.MaxFailuresPerAddress > 0 && o.Window > TimeSpan.Zero && o.MaxTracked > 0,
                "Qubrid:Redemptions limits must be positive.")
            .ValidateOnStart();
        services.AddSingleton<RedemptionThrottle>();
        var api = builder.Configuration.GetSection(ApiOptions.Section).Get<ApiOptions>() ?? new ApiOptions();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = api.MaxBodyBytes);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = api.ShutdownTimeout);
        services.AddSingleton<ApiDrain>();
        services.AddHostedService(sp => sp.GetRequiredService<ApiDrain>());

        services.TryAddSingleton(TimeProvider.System);
        services.AddMemoryCache();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<EventStreamGate>();
        services.AddSingleton<SessionDirectory>();
        services.AddSingleton<OrganizationRoles>();
        services.AddHostedService<BootstrapAdminKey>();
        services.AddSingleton<IPaymentGateway, SandboxPaymentGateway>();
        services.AddSingleton<TopupService>();
        services.AddHostedService<PaymentRecovery>();
        services.AddQubridHealthChecks().AddCheck<ActiveSiloHealthCheck>("cluster").AddCheck<ApiDrain>("drain");

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            // R-ROLE-3: the orchestrator's endpoints require Policies.Orchestrator; other roles get 403.
            // R-ROLE-4: the admin's endpoints require Policies.Admin; other roles get 403.
            .AddPolicy(Policies.Admin, p => p.RequireRole(Roles.Admin))
            .AddPolicy(Policies.Orchestrator, p => p.RequireRole(Roles.Orchestrator))
            .AddPolicy(Policies.User, p => p.RequireRole(Roles.User))
            .AddPolicy(Policies.KeyOwner, p => p.RequireRole(Roles.Admin, Roles.User));

        AddPerKeyRateLimits(services, api);
        ConfigureStrictJson(services);
        // The document still says what a decimal is: the schema exporter sees nothing through a custom converter.
        services.Configure<Microsoft.AspNetCore.OpenApi.OpenApiOptions>("v1", o => o.AddSchemaTransformer(ExactDecimalConverter.DescribeAsync));
        services.AddProblemDetails();
        services.AddOpenApi(OpenApiContract.Configure);
        return builder;
    }

    /// <summary>
    /// Token buckets per authenticated key, or per client address without a valid key; 429 with Retry-After. They refill on
    /// elapsed time (System.Threading.RateLimiting's own timer and Stopwatch), never on the injected <see cref="TimeProvider"/>.
    /// </summary>
    private static void AddPerKeyRateLimits(IServiceCollection services, ApiOptions api)
    {
        services.AddRateLimiter(o =>
        {
            // Per authenticated key (its id: "bearer K", "Bearer  K" and "BEARER K" are one key, one bucket); without a
            // valid key (anonymous endpoints, unknown or revoked keys) per client address.
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
            {
                if (context.User.KeyId() is { } keyId)
                    return RateLimitPartition.GetTokenBucketLimiter("key:" + keyId, _ => Bucket(api.BurstPerKey, api.RequestsPerSecondPerKey));
                return RateLimitPartition.GetTokenBucketLimiter("address:" + ClientAddress.Of(context),
                    _ => Bucket(api.AnonymousBurstPerAddress, api.AnonymousRequestsPerSecondPerAddress));
            });
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                await ApiProblems.Write(context.HttpContext, ApiProblems.RateLimited, context.HttpContext.User.KeyId() is null
                    ? "Too many requests from this address without a valid API key; retry after a second."
                    : "Too many requests for this API key; retry after a second.");
            };
        });
    }

    // R-INPUT-4: unknown members and malformed JSON are invalid_request (body size, rate limits and 503 are wired in AddQubridApi and UseQubridErrors).
    /// <summary>Strict request binding: a bad request throws (mapped to 400 in one place); enums as strings, no duplicate members, no quoted numbers, exact decimals.</summary>
    private static void ConfigureStrictJson(IServiceCollection services)
    {
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.Configure<JsonOptions>(o =>
        {
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
            // Strict JSON: {"amount":-5,"amount":10} is refused, not read last-wins; a quoted number ("10") is not a number;
            // an amount with more digits than a decimal keeps is refused, not rounded.
            o.SerializerOptions.AllowDuplicateProperties = false;
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
            o.SerializerOptions.Converters.Add(new ExactDecimalConverter());
        });
    }

    private static TokenBucketRateLimiterOptions Bucket(int burst, int perSecond) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    /// <summary>Maps every failure to problem+json: bad requests to 400/413, a wallet with a full queue or an unreachable database or cluster to 503.</summary>
    public static WebApplication UseQubridErrors(this WebApplication app)
    {
        app.UseExceptionHandler(errors => errors.Run(async context =>
        {
            var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (code, detail) = error switch
            {
                BadHttpRequestException { StatusCode: 413 } => (ApiProblems.PayloadTooLarge, "The request body is too large."),
                BadHttpRequestException { StatusCode: 415 } => (ApiProblems.UnsupportedMediaType, "The request body must be application/json."),
                // An amount that is no decimal at all (1e30 overflows, "lots" is no number) is a bad amount, not bad JSON.
                BadHttpRequestException { InnerException: System.Text.Json.JsonException { Path: "$.amount" or "$.usdPerHour", InnerException: FormatException } } =>
                    (ErrorCodes.InvalidAmount, "The amount must be a number of USD, more than 0, with at most 6 decimals, within the allowed maximum."),
                BadHttpRequestException bad => (ErrorCodes.InvalidRequest, bad.InnerException is System.Text.Json.JsonException json
                    ? $"Malformed JSON: {json.Message}" : bad.Message),
                System.Text.Json.JsonException json => (ErrorCodes.InvalidRequest, $"Malformed JSON: {json.Message}"),
                _ when Find<WalletBusyException>(error) is not null =>
                    (ApiProblems.WalletBusy, "The wallet has too many operations waiting; retry shortly with the same Idempotency-Key."),
                _ when IsUnavailable(error) =>
                    (ApiProblems.Unavailable, "The billing service is temporarily unavailable; retry with the same Idempotency-Key."),
                _ => ("internal_error", "Something went wrong; retry with the same Idempotency-Key."),
            };
            var problem = ApiProblems.Problem(code == "internal_error" ? ApiProblems.InternalError : code, detail);
            if (code == ApiProblems.Unavailable) context.Response.Headers.RetryAfter = "2";
            if (code == ApiProblems.WalletBusy) context.Response.Headers.RetryAfter = "1";
            await problem.ExecuteAsync(context);
        }));
        // What the framework refuses by status alone (no route: 404, a method the route does not list: 405, a wrong content
        // type: 415, a body read failing: 400/413) gets a problem+json body with its code too: here, in one place.
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            int status = http.Response.StatusCode;
            if (status < 400 || http.Response.HasStarted) return;
            var detail = status switch
            {
                404 => $"No resource at '{http.Request.Path}'.",
                405 => $"'{http.Request.Method}' is not allowed here{(http.Response.Headers.Allow is { Count: > 0 } allow ? $"; allowed: {allow}" : "")}.",
                415 => "The request body must be application/json.",
                413 => "The request body is too large.",
                _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) + ".",
            };
            await ApiProblems.ForStatus(status, detail).ExecuteAsync(http);
        });
        // The body limit is the app's, not only Kestrel's: applied on any server, and a declared oversize body is refused before it is read.
        var maxBody = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiOptions>>().Value.MaxBodyBytes;
        app.Use(async (context, next) =>
        {
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = maxBody;
            else if (context.Request.ContentLength is null)
                context.Request.Body = new BodySizeLimit(context.Request.Body, maxBody); // a server without the feature: a chunked body is counted here
            if (context.Request.ContentLength > maxBody)
            {
                await ApiProblems.Write(context, ApiProblems.PayloadTooLarge, $"The request body is too large (at most {maxBody} bytes).");
                return;
            }
            await next(context);
        });
        return app;
    }

    /// <summary>A request body that fails as Kestrel's does (413) once it has given more than the limit.</summary>
    private sealed class BodySizeLimit(Stream inner, long max) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            Count(await inner.ReadAsync(buffer, ct));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
            ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

        private int Count(int n)
        {
            _read += n;
            if (_read > max) throw new BadHttpRequestException($"The request body is larger than {max} bytes.", StatusCodes.Status413PayloadTooLarge);
            return n;
        }
    }

    private static T? Find<T>(Exception? error) where T : Exception
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is T found) return found;
        }
        return null;
    }

    /// <summary>
    /// The database or the cluster cannot be reached right now. Grains answer storage failures as
    /// <see cref="StorageUnavailableException"/>; the API's own database calls fail with Npgsql's exceptions.
    /// </summary>
    private static bool IsUnavailable(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is StorageUnavailableException or NpgsqlException or TimeoutException or OrleansException or OperationCanceledException
                or System.Net.Sockets.SocketException)
                return true;
        }
        return false;
    }

    public static WebApplication MapQubridDocs(this WebApplication app)
    {
        app.MapOpenApi().AllowAnonymous();
        app.MapScalarApiReference().AllowAnonymous();
        return app;
    }
}
