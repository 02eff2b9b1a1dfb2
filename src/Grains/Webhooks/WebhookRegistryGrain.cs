using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Qubrid.Webhooks;

/// <summary>Creates endpoints (validating the URL on the silo, which is where requests will come from) and lists them.</summary>
[StatelessWorker]
public sealed class WebhookRegistryGrain(WebhookStore store, IOptions<WebhookOptions> options, TimeProvider time) : Grain, IWebhookRegistryGrain
{
    public async Task<CreateWebhookResult> Create(CreateWebhookRequest request)
    {
        var o = options.Value;
        if (await WebhookAddresses.ProblemAsync(request.Url, request.UserId is not null, o.AllowedHosts, Dns.GetHostAddressesAsync) is { } bad)
            return new CreateWebhookResult(null, null, WebhookErrorCodes.InvalidWebhookUrl, bad);
        var id = "wh_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var secret = "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var row = await store.CreateAsync(id, request, secret, time.GetUtcNow(), o.MaxEndpointsPerUser);
        if (row is null)
            return new CreateWebhookResult(null, null, WebhookErrorCodes.TooManyWebhooks, $"A user may have at most {o.MaxEndpointsPerUser} webhook endpoints.");
        await GrainFactory.GetGrain<IWebhookEndpointGrain>(id).Wake();
        return new CreateWebhookResult(row.ToView(), secret);
    }

    public Task<IReadOnlyList<WebhookEndpoint>> List(string? userId) => store.ListAsync(userId);
}
