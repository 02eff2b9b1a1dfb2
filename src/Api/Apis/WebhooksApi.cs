using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>A new endpoint: <c>events</c> defaults to every kind; <c>userId</c> (admin only) makes it that user's.</summary>
public sealed record WebhookRequest(string? Url, IReadOnlyList<string>? Events = null, string? UserId = null);

public sealed record WebhookDto(
    string Id, string? UserId, string Url, IReadOnlyList<string> Events, string State, DateTimeOffset CreatedAt,
    int FailedAttempts, DateTimeOffset? NextAttemptAt, DateTimeOffset? DisabledAt, string? DisabledReason)
{
    public static WebhookDto From(WebhookEndpoint e) =>
        new(e.Id, e.UserId, e.Url, e.Events, e.State, e.CreatedAt, e.FailedAttempts, e.NextAttemptAt, e.DisabledAt, e.DisabledReason);
}

/// <summary>The answer to a create: the endpoint and its signing secret, shown this once.</summary>
public sealed record CreatedWebhookDto(
    string Id, string Secret, string? UserId, string Url, IReadOnlyList<string> Events, string State, DateTimeOffset CreatedAt);

public sealed record WebhookDeliveryDto(
    long Id, string EventId, string Type, string Status, int Attempts, DateTimeOffset LastAttemptAt, int? ResponseStatus, string? Error,
    DateTimeOffset? DeliveredAt)
{
    public static WebhookDeliveryDto From(WebhookDelivery d) => new(d.Id, $"evt_{d.EventId}", d.EventType, d.Status, d.Attempts, d.LastAttemptAt,
        d.ResponseStatus, d.Error, d.DeliveredAt);
}

public sealed record WebhookDeliveryPageDto(IReadOnlyList<WebhookDeliveryDto> Items, string? NextCursor);

/// <summary>
/// Webhook endpoints (docs/rules.md#R-HOOK-1): a user's receive their wallet's events, the admin's every event.
/// Delivery runs on the silos (WebhookEndpointGrain); these calls manage endpoints and show what was delivered.
/// </summary>
public static class WebhooksApi
{
    private static readonly string[] OneEndpoint = [ErrorCodes.InvalidRequest, WebhookErrorCodes.WebhookNotFound];

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var hooks = app.MapGroup("/v1/webhooks").WithTags("Webhooks").RequireAuthorization(Policies.KeyOwner);
        hooks.MapPost("", Create).WithName("CreateWebhook")
            .WithSummary("Add an endpoint {url, events?, userId? (admin)}; answers its signing secret, shown once. User URLs must be public https.")
            .Refuses(WebhookErrorCodes.InvalidWebhookUrl, WebhookErrorCodes.TooManyWebhooks, ErrorCodes.WalletNotFound);
        hooks.MapGet("", List).WithName("ListWebhooks").WithSummary("The caller's endpoints (the admin: all).");
        hooks.MapGet("/{id}", Get).WithName("GetWebhook").WithSummary("One endpoint and where its delivery stands.").Refuses(OneEndpoint);
        hooks.MapDelete("/{id}", Delete).WithName("DeleteWebhook").WithSummary("Remove an endpoint; nothing more is sent to it.").Refuses(OneEndpoint);
        hooks.MapPost("/{id}/enable", Enable).WithName("EnableWebhook")
            .WithSummary("Resume a disabled endpoint from its first undelivered event.").Refuses(OneEndpoint);
        hooks.MapGet("/{id}/deliveries", Deliveries).WithName("ListWebhookDeliveries")
            .WithSummary("Deliveries, newest first: each event's latest attempt and its status.").Refuses(OneEndpoint);
        hooks.MapPost("/{id}/deliveries/{deliveryId}/replay", Replay).WithName("ReplayWebhookDelivery")
            .WithSummary("Send a delivery's event again now (signed afresh); answers the delivery with this attempt.")
            .Refuses([.. OneEndpoint, WebhookErrorCodes.DeliveryNotFound]);
        return app;
    }

    private static async Task<Results<Created<CreatedWebhookDto>, ProblemHttpResult>> Create(WebhookRequest body, ClaimsPrincipal caller, IClusterClient cluster)
    {
        string? owner;
        if (caller.IsInRole(Roles.Admin))
        {
            owner = body.UserId;
            if (owner is not null)
            {
                if (!ApiProblems.IsValidId(owner)) return ApiProblems.MalformedId("user id");
                if (await cluster.GetGrain<IWalletGrain>(owner).GetBalance() is null) return ApiProblems.WalletNotFound(owner);
            }
        }
        else
        {
            owner = caller.UserId();
            if (body.UserId is not null && body.UserId != owner)
            {
                // An organization's owner manages its wallet's endpoints as their own; for anyone else it does not exist.
                if (!await OwnsOrganizationAsync(cluster, body.UserId, owner)) return ApiProblems.WalletNotFound(body.UserId);
                owner = body.UserId;
            }
        }
        var events = body.Events is { Count: > 0 } given ? given.Distinct(StringComparer.Ordinal).ToList() : EventKinds.All.Where(k => owner is null || k != EventKinds.WebhookDisabled).ToList();
        if (events.FirstOrDefault(k => !EventKinds.All.Contains(k)) is { } unknown)
            return ApiProblems.Invalid($"Unknown event type '{unknown}'. Types: {string.Join(", ", EventKinds.All)}.");
        if (owner is not null && events.Contains(EventKinds.WebhookDisabled))
            return ApiProblems.Invalid("webhook_disabled events go to the admin's endpoints only.");
        var result = await cluster.GetGrain<IWebhookRegistryGrain>(0).Create(new CreateWebhookRequest(body.Url ?? "", events, owner));
        if (result.Endpoint is not { } e) return ApiProblems.Problem(result.ErrorCode ?? ErrorCodes.InvalidRequest, result.Detail ?? "Refused.");
        return TypedResults.Created($"/v1/webhooks/{e.Id}", new CreatedWebhookDto(e.Id, result.Secret!, e.UserId, e.Url, e.Events, e.State, e.CreatedAt));
    }

    private static async Task<Ok<ItemsDto<WebhookDto>>> List(ClaimsPrincipal caller, IClusterClient cluster)
    {
        var registry = cluster.GetGrain<IWebhookRegistryGrain>(0);
        if (caller.IsInRole(Roles.Admin)) return TypedResults.Ok(new ItemsDto<WebhookDto>((await registry.List(null)).Select(WebhookDto.From).ToList()));
        // A user's own endpoints, then those of the organizations they own.
        var list = new List<WebhookEndpoint>(await registry.List(caller.UserId()));
        foreach (var org in await cluster.GetGrain<IOrganizationDirectoryGrain>(0).OrganizationsOf(caller.UserId()!))
        {
            if (org.Role == OrgRole.Owner) list.AddRange(await registry.List(org.OrgId));
        }
        return TypedResults.Ok(new ItemsDto<WebhookDto>(list.Select(WebhookDto.From).ToList()));
    }

    private static async Task<Results<Ok<WebhookDto>, ProblemHttpResult>> Get(string id, ClaimsPrincipal caller, IClusterClient cluster)
    {
        var (endpoint, problem) = await FindAsync(id, caller, cluster);
        return endpoint is null ? problem! : TypedResults.Ok(WebhookDto.From(endpoint));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> Delete(string id, ClaimsPrincipal caller, IClusterClient cluster)
    {
        var (endpoint, problem) = await FindAsync(id, caller, cluster);
        if (endpoint is null) return problem!;
        await cluster.GetGrain<IWebhookEndpointGrain>(id).Delete();
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<WebhookDto>, ProblemHttpResult>> Enable(string id, ClaimsPrincipal caller, IClusterClient cluster)
    {
        var (endpoint, problem) = await FindAsync(id, caller, cluster);
        if (endpoint is null) return problem!;
        var enabled = await cluster.GetGrain<IWebhookEndpointGrain>(id).Enable();
        return enabled is null ? NotFound(id) : TypedResults.Ok(WebhookDto.From(enabled));
    }

    private static async Task<Results<Ok<WebhookDeliveryPageDto>, ProblemHttpResult>> Deliveries(
        string id, ClaimsPrincipal caller, IClusterClient cluster, [FromQuery] string? cursor = null, [FromQuery] string? limit = null)
    {
        long? before = null;
        if (cursor is { Length: > 0 })
        {
            if (!long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var c) || c <= 0) return ApiProblems.Invalid("Malformed cursor.");
            before = c;
        }
        int size = 50;
        if (limit is { Length: > 0 } l && (!int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size < 1 || size > 500))
            return ApiProblems.Invalid("limit must be 1–500.");
        var (endpoint, problem) = await FindAsync(id, caller, cluster);
        if (endpoint is null) return problem!;
        var page = await cluster.GetGrain<IWebhookEndpointGrain>(id).ListDeliveries(before, size);
        if (page is null) return NotFound(id);
        return TypedResults.Ok(new WebhookDeliveryPageDto(page.Items.Select(WebhookDeliveryDto.From).ToList(),
            page.NextBefore?.ToString(CultureInfo.InvariantCulture)));
    }

    private static async Task<Results<Ok<WebhookDeliveryDto>, ProblemHttpResult>> Replay(string id, string deliveryId, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (!long.TryParse(deliveryId, NumberStyles.None, CultureInfo.InvariantCulture, out var delivery) || delivery <= 0)
            return ApiProblems.Invalid("The delivery id must be a positive integer.");
        var (endpoint, problem) = await FindAsync(id, caller, cluster);
        if (endpoint is null) return problem!;
        var replayed = await cluster.GetGrain<IWebhookEndpointGrain>(id).Replay(delivery);
        return replayed is null
            ? ApiProblems.Problem(WebhookErrorCodes.DeliveryNotFound, $"Endpoint {id} has no delivery {deliveryId}.")
            : TypedResults.Ok(WebhookDeliveryDto.From(replayed));
    }

    /// <summary>The endpoint if the caller may see it: the admin any, a user their own (another's is "not found").</summary>
    private static async Task<(WebhookEndpoint? Endpoint, ProblemHttpResult? Problem)> FindAsync(string id, ClaimsPrincipal caller, IClusterClient cluster)
    {
        if (!IsEndpointId(id)) return (null, ApiProblems.Invalid("The webhook id must be wh_ and 24 hex digits."));
        var endpoint = await cluster.GetGrain<IWebhookEndpointGrain>(id).Get();
        if (endpoint is null || !(caller.IsInRole(Roles.Admin) || (endpoint.UserId is not null && endpoint.UserId == caller.UserId())
                || (endpoint.UserId is { } wallet && caller.UserId() is { } user && await OwnsOrganizationAsync(cluster, wallet, user))))
            return (null, NotFound(id));
        return (endpoint, null);
    }

    /// <summary>Whether <paramref name="userId"/> owns the organization whose wallet is <paramref name="walletId"/> (asked of the organization).</summary>
    private static async Task<bool> OwnsOrganizationAsync(IClusterClient cluster, string walletId, string? userId) =>
        userId is not null && OrgRoles.IsOrganizationId(walletId) && await cluster.GetGrain<IOrganizationGrain>(walletId).RoleOf(userId) == OrgRole.Owner;

    private static bool IsEndpointId(string id) => id.Length == 27 && id.StartsWith("wh_", StringComparison.Ordinal) && id[3..].All(char.IsAsciiHexDigitLower);

    private static ProblemHttpResult NotFound(string id) => ApiProblems.Problem(WebhookErrorCodes.WebhookNotFound, $"Webhook endpoint '{id}' does not exist.");
}
