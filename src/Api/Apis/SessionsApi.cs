using System.Buffers.Text;
using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;
using System.Security.Claims;
using Microsoft.Extensions.Options;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>GPU session metering for the orchestrator, and the event stream it watches.</summary>
public static class SessionsApi
{
    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/v1/sessions").WithTags("Sessions").RequireAuthorization();
        sessions.MapPost("", Start).RequireAuthorization(Policies.Orchestrator).WithName("StartSession")
            .WithSummary("Start metering; the rate is locked now. 402 if the wallet does not cover the minimum runway. A repeated start answers 200 with the session as it is and changes nothing.")
            .Refuses(ErrorCodes.UnknownInstanceType, ErrorCodes.InsufficientCredits, ErrorCodes.SpendLimitExceeded, ErrorCodes.WalletNotFound, ErrorCodes.SessionConflict, ApiProblems.WalletBusy);
        sessions.MapGet("", List).WithName("ListSessions")
            .WithSummary("Sessions as the wallets record them, newest first, with a cursor: for orchestrators reconciling what runs with what is billed. A user sees their own.")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.WalletNotFound);
        sessions.MapGet("/events", Events).RequireAuthorization(Policies.Orchestrator).WithName("StreamSessionEvents")
            .WithSummary("Server-sent events: session_terminated and low_balance; resumable with Last-Event-ID (without it, the stream starts at the present). At most Qubrid:Api:MaxEventStreamsPerKey open streams per key: 429 beyond.")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream").Refuses(ErrorCodes.InvalidRequest, ApiProblems.TooManyStreams)
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // Read from the request by hand (the header wins over the query): declared here.
                operation.Parameters ??= [];
                operation.Parameters.Add(new Microsoft.OpenApi.OpenApiParameter
                {
                    Name = "Last-Event-ID", In = Microsoft.OpenApi.ParameterLocation.Header,
                    Description = "Resume after this event id (sent by EventSource on reconnect).",
                    Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String, Pattern = "^[0-9]+$" },
                });
                operation.Parameters.Add(new Microsoft.OpenApi.OpenApiParameter
                {
                    Name = "after", In = Microsoft.OpenApi.ParameterLocation.Query, Description = "Resume after this event id, when no Last-Event-ID is sent.",
                    Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.Integer, Format = "int64", Minimum = "0" },
                });
                return Task.CompletedTask;
            });
        sessions.MapGet("/{sessionId}", Get).WithName("GetSession").WithSummary("State, rate, start/stop, charged so far, end reason.")
            .Refuses(ErrorCodes.InvalidRequest, ErrorCodes.SessionNotFound);
        sessions.MapPost("/{sessionId}/stop", Stop).RequireAuthorization(Policies.Orchestrator).WithName("StopSession")
            .WithSummary("Stop: charges the final partial interval. A repeat is harmless.").Refuses(ErrorCodes.InvalidRequest, ErrorCodes.SessionNotFound, ApiProblems.WalletBusy);
        return app;
    }

    private static async Task<Results<Created<SessionDto>, Ok<SessionDto>, ProblemHttpResult>> Start(StartSessionBody body, IClusterClient cluster)
    {
        if (!ApiProblems.IsValidId(body.SessionId)) return ApiProblems.MalformedId("sessionId");
        if (!ApiProblems.IsValidId(body.UserId)) return ApiProblems.MalformedId("userId");
        if (string.IsNullOrEmpty(body.InstanceType)) return ApiProblems.Problem(ErrorCodes.UnknownInstanceType, "An instanceType is required.");
        var result = await cluster.GetGrain<ISessionGrain>(body.SessionId!).Start(new StartSessionRequest(body.UserId!, body.InstanceType, body.Workload));
        if (!result.Succeeded) return ApiProblems.From(result);
        var session = SessionDto.From(result.Session!);
        return result.Existing ? TypedResults.Ok(session) : TypedResults.Created($"/v1/sessions/{body.SessionId}", session);
    }

    private static async Task<Results<Ok<SessionPageDto>, ProblemHttpResult>> List(
        ClaimsPrincipal caller, IClusterClient cluster, string? userId = null, string? state = null, string? cursor = null, int? limit = null)
    {
        if (caller.IsInRole(Roles.User))
        {
            // Another user's sessions are not revealed, as their wallet is not.
            if (userId is not null && userId != caller.UserId()) return ApiProblems.WalletNotFound(userId);
            userId = caller.UserId();
        }
        if (userId is not null && !ApiProblems.IsValidId(userId)) return ApiProblems.MalformedId("userId");
        SessionState? wanted = null;
        if (state is not null)
        {
            if (!SessionStates.TryParse(state, out var parsed)) return ApiProblems.Invalid("state must be running, stopped or terminated.");
            wanted = parsed;
        }
        if (limit is < 1 or > SessionQuery.MaxLimit) return ApiProblems.Invalid($"limit must be 1–{SessionQuery.MaxLimit}.");
        SessionCursor? after = null;
        if (cursor is not null && !SessionCursors.TryParse(cursor, out after)) return ApiProblems.Invalid("Malformed cursor.");
        var page = await cluster.GetGrain<ISessionCatalogGrain>(0).List(new SessionQuery(userId, wanted, after, limit ?? 50));
        return TypedResults.Ok(new SessionPageDto(page.Items.Select(SessionDto.From).ToList(), page.Next is { } next ? SessionCursors.Format(next) : null));
    }

    private static async Task<Results<Ok<SessionDto>, ProblemHttpResult>> Get(
        string sessionId, ClaimsPrincipal caller, IClusterClient cluster, SessionDirectory directory, CancellationToken ct)
    {
        if (!ApiProblems.IsValidId(sessionId)) return ApiProblems.MalformedId("session id");
        // The session grain is activated only for a session some wallet opened, and that the caller may see.
        var owner = await directory.OwnerOfAsync(sessionId, ct);
        if (owner is null || (caller.IsInRole(Roles.User) && owner != caller.UserId()))
            return ApiProblems.Problem(ErrorCodes.SessionNotFound, $"Session '{sessionId}' was never started.");
        var session = await cluster.GetGrain<ISessionGrain>(sessionId).Get();
        bool visible = session is not null && (caller.IsInRole(Roles.Admin) || caller.IsInRole(Roles.Orchestrator) || caller.UserId() == session.UserId);
        return visible ? TypedResults.Ok(SessionDto.From(session!)) : ApiProblems.Problem(ErrorCodes.SessionNotFound, $"Session '{sessionId}' was never started.");
    }

    private static async Task<Results<Ok<SessionDto>, ProblemHttpResult>> Stop(string sessionId, IClusterClient cluster, SessionDirectory directory, CancellationToken ct)
    {
        if (!ApiProblems.IsValidId(sessionId)) return ApiProblems.MalformedId("session id");
        if (await directory.OwnerOfAsync(sessionId, ct) is null)
            return ApiProblems.Problem(ErrorCodes.SessionNotFound, $"Session '{sessionId}' was never started.");
        var result = await cluster.GetGrain<ISessionGrain>(sessionId).Stop();
        return result.Succeeded ? TypedResults.Ok(SessionDto.From(result.Session!)) : ApiProblems.From(result);
    }

    private static async Task<Results<EventStreamResult, ProblemHttpResult>> Events(
        HttpRequest request, ClaimsPrincipal caller, IClusterClient cluster, SessionDirectory directory, IOptions<ApiOptions> options, CancellationToken ct)
    {
        long after = 0;
        var last = request.Headers["Last-Event-ID"].ToString() is { Length: > 0 } h ? h : request.Query["after"].ToString();
        if (last.Length > 0 && !long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out after))
            return ApiProblems.Invalid("Last-Event-ID must be an event id.");
        // Not a resume: the stream starts at the present, not with the whole history (ask for it with Last-Event-ID: 0).
        if (last.Length == 0) after = await directory.LatestEventIdAsync(ct);
        return new EventStreamResult(cluster.GetGrain<IEventFeedGrain>(0), after, options.Value.EventPollInterval, caller.KeyId() ?? "", options.Value.MaxEventStreamsPerKey);
    }

    public sealed record SessionPageDto(IReadOnlyList<SessionDto> Items, string? NextCursor);

    /// <summary>An opaque cursor: the last session's start (UTC ticks) and ids, base64url-encoded.</summary>
    private static class SessionCursors
    {
        public static string Format(SessionCursor c) =>
            Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes($"{c.StartedAt.UtcTicks.ToString(CultureInfo.InvariantCulture)}|{c.UserId}|{c.SessionId}"));

        public static bool TryParse(string text, out SessionCursor? cursor)
        {
            cursor = null;
            try
            {
                var parts = System.Text.Encoding.UTF8.GetString(Base64Url.DecodeFromChars(text)).Split('|');
                if (parts.Length != 3 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
                    || ticks > DateTimeOffset.MaxValue.UtcTicks || !ApiProblems.IsValidId(parts[1]) || !ApiProblems.IsValidId(parts[2]))
                    return false;
                cursor = new SessionCursor(new DateTimeOffset(ticks, TimeSpan.Zero), parts[1], parts[2]);
                return true;
            }
            catch (FormatException)
            {
                return false;
            }
        }
    }

    public sealed record EventDto(long Id, DateTimeOffset At, string Kind, string UserId, string? SessionId, string? Reason, decimal Balance, long? RunwaySeconds,
        System.Text.Json.JsonElement? Data)
    {
        public static EventDto From(BillingEvent e) => new(e.Id, e.At, e.Kind, e.UserId, e.SessionId, e.Reason, e.Balance.ToUsd(), e.RunwaySeconds,
            e.Data is null ? null : System.Text.Json.JsonDocument.Parse(e.Data).RootElement.Clone());
    }
}
