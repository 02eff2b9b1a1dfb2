using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Qubrid.Webhooks;

/// <summary>How one request went: a 2xx answer, or the status or error that made it a failure.</summary>
public sealed record DeliveryAttempt(bool Succeeded, int? ResponseStatus, string? Error, TimeSpan Duration);

/// <summary>
/// Sends signed webhook requests for one silo: a timeout per request, a cap on requests in flight over all endpoints
/// (a slow receiver holds one slot for at most the timeout), no redirects, and for user endpoints a check at connect
/// time that the host's address is public (unless the host is allow-listed).
/// </summary>
public sealed class WebhookSender : IDisposable
{
    private static readonly HttpRequestOptionsKey<bool> PublicOnly = new("qubrid.webhook.publicOnly");
    private readonly HttpClient _http;
    private readonly SemaphoreSlim _slots;
    private readonly WebhookOptions _options;
    private readonly TimeProvider _time;

    public WebhookSender(IOptions<WebhookOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        _slots = new SemaphoreSlim(_options.MaxConcurrentDeliveries);
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            ConnectTimeout = _options.ConnectTimeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            MaxConnectionsPerServer = _options.MaxConcurrentDeliveries,
            ConnectCallback = ConnectAsync,
            UseCookies = false,
        })
        { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Qubrid-Webhooks/1.0");
    }

    /// <summary>Requests in flight now (for tests and metrics).</summary>
    public int InFlight => _options.MaxConcurrentDeliveries - _slots.CurrentCount;

    public async Task<DeliveryAttempt> SendAsync(EndpointRow endpoint, BillingEvent e, CancellationToken ct = default)
    {
        var body = WebhookPayload.Body(e);
        // Waiting for one of this silo's slots is not the receiver's fault: the timeout starts once the request may go.
        await _slots.WaitAsync(ct);
        var started = Stopwatch.GetTimestamp();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            request.Headers.Add(WebhookPayload.SignatureHeader, WebhookPayload.Signature(endpoint.Secret, _time.GetUtcNow().ToUnixTimeSeconds(), body));
            request.Headers.Add("Qubrid-Event-Id", WebhookPayload.EventId(e.Id));
            var host = request.RequestUri!.IdnHost;
            request.Options.Set(PublicOnly, endpoint.UserId is not null && !WebhookAddresses.IsAllowListed(host, _options.AllowedHosts));
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            int status = (int)response.StatusCode;
            bool ok = status is >= 200 and < 300;
            return new DeliveryAttempt(ok, status, ok ? null : $"HTTP {status}", Stopwatch.GetElapsedTime(started));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new DeliveryAttempt(false, null, $"No answer within {_options.RequestTimeout:c}.", Stopwatch.GetElapsedTime(started));
        }
        catch (HttpRequestException ex)
        {
            return new DeliveryAttempt(false, null, Shorten(ex.InnerException?.Message ?? ex.Message), Stopwatch.GetElapsedTime(started));
        }
        finally
        {
            _slots.Release();
        }
    }

    private static string Shorten(string message) => message.Length <= 300 ? message : message[..300];

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var endpoint = context.DnsEndPoint;
        IPAddress[] addresses = IPAddress.TryParse(endpoint.Host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(endpoint.Host, ct);
        if (context.InitialRequestMessage.Options.TryGetValue(PublicOnly, out var publicOnly) && publicOnly)
        {
            addresses = addresses.Where(WebhookAddresses.IsPublic).ToArray();
            if (addresses.Length == 0) throw new HttpRequestException($"The host '{endpoint.Host}' has no public address.");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, endpoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _http.Dispose();
        _slots.Dispose();
    }
}
