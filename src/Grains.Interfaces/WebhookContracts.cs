using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Problem codes of the webhook calls (the API maps them to HTTP in ApiProblems).</summary>
public static class WebhookErrorCodes
{
    public const string InvalidWebhookUrl = "invalid_webhook_url";
    public const string WebhookNotFound = "webhook_not_found";
    public const string DeliveryNotFound = "delivery_not_found";
    public const string TooManyWebhooks = "too_many_webhooks";
}

/// <summary>Where an endpoint's deliveries stand.</summary>
public static class WebhookStates
{
    public const string Enabled = "enabled";
    public const string Disabled = "disabled";
}

/// <summary>Asks for a new endpoint. <paramref name="UserId"/> null: an admin endpoint (every wallet's events).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreateWebhookRequest")]
public sealed record CreateWebhookRequest(
    [property: Id(0)] string Url,
    [property: Id(1)] IReadOnlyList<string> Events,
    [property: Id(2)] string? UserId);

/// <summary>An endpoint as its owner sees it (never with its secret, except once in <see cref="CreateWebhookResult"/>).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.WebhookEndpoint")]
public sealed record WebhookEndpoint(
    [property: Id(0)] string Id,
    [property: Id(1)] string? UserId,
    [property: Id(2)] string Url,
    [property: Id(3)] IReadOnlyList<string> Events,
    [property: Id(4)] string State,
    [property: Id(5)] DateTimeOffset CreatedAt,
    [property: Id(6)] long Cursor,
    [property: Id(7)] int FailedAttempts,
    [property: Id(8)] DateTimeOffset? NextAttemptAt,
    [property: Id(9)] DateTimeOffset? DisabledAt,
    [property: Id(10)] string? DisabledReason);

/// <summary>A new endpoint, or why none was made (<see cref="ErrorCode"/>).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.CreateWebhookResult")]
public sealed record CreateWebhookResult(
    [property: Id(0)] WebhookEndpoint? Endpoint,
    [property: Id(1)] string? Secret,
    [property: Id(2)] string? ErrorCode = null,
    [property: Id(3)] string? Detail = null);

/// <summary>
/// One event's delivery to one endpoint: its latest attempt. <c>Status</c>: <c>succeeded</c> (a 2xx answer),
/// <c>failed</c> (the last attempt failed; it is retried while the endpoint is enabled).
/// </summary>
[GenerateSerializer, Immutable, Alias("qubrid.WebhookDelivery")]
public sealed record WebhookDelivery(
    [property: Id(0)] long Id,
    [property: Id(1)] string EndpointId,
    [property: Id(2)] long EventId,
    [property: Id(3)] string EventType,
    [property: Id(4)] string Status,
    [property: Id(5)] int Attempts,
    [property: Id(6)] DateTimeOffset LastAttemptAt,
    [property: Id(7)] int? ResponseStatus,
    [property: Id(8)] string? Error,
    [property: Id(9)] DateTimeOffset? DeliveredAt);

/// <summary>A page of deliveries, newest first; <see cref="NextBefore"/> is the cursor of the next page.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.WebhookDeliveryPage")]
public sealed record WebhookDeliveryPage(
    [property: Id(0)] IReadOnlyList<WebhookDelivery> Items,
    [property: Id(1)] long? NextBefore);

/// <summary>
/// One webhook endpoint's delivery loop. A reminder keeps it activated (on whichever silo holds it after a crash);
/// its durable cursor over qubrid_events says where delivery resumes.
/// </summary>
[Alias("qubrid.IWebhookEndpointGrain")]
[Version(0)]
public interface IWebhookEndpointGrain : IGrainWithStringKey
{
    /// <summary>Makes sure the keep-alive reminder exists and the loop runs (after a create or an enable).</summary>
    [Alias("Wake")] Task Wake();

    [Alias("Get"), ReadOnly] Task<WebhookEndpoint?> Get();

    /// <summary>Resumes a disabled endpoint from its first undelivered event; null if it does not exist.</summary>
    [Alias("Enable")] Task<WebhookEndpoint?> Enable();

    /// <summary>Removes the endpoint, its deliveries and its reminder; false if it did not exist.</summary>
    [Alias("Delete")] Task<bool> Delete();

    [Alias("ListDeliveries"), ReadOnly] Task<WebhookDeliveryPage?> ListDeliveries(long? before, int limit);

    /// <summary>Sends the delivery's event once more, now, and records the attempt; null if no such delivery.</summary>
    [Alias("Replay")] Task<WebhookDelivery?> Replay(long deliveryId);
}

/// <summary>Creates and lists endpoints (the endpoint grain is keyed by an id that does not exist before).</summary>
[Alias("qubrid.IWebhookRegistryGrain")]
[Version(0)]
public interface IWebhookRegistryGrain : IGrainWithIntegerKey
{
    [Alias("Create")] Task<CreateWebhookResult> Create(CreateWebhookRequest request);

    /// <summary>A user's endpoints, or (null) every endpoint.</summary>
    [Alias("List"), ReadOnly] Task<IReadOnlyList<WebhookEndpoint>> List(string? userId);
}
