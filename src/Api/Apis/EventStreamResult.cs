using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;
using Qubrid.Api.Extensions;
using static Qubrid.Api.Apis.SessionsApi;

namespace Qubrid.Api.Apis;

/// <summary>
/// Server-sent events: headers go out at once (an orchestrator connecting to a quiet feed is not left waiting),
/// every event is flushed as it is written, and a comment line every 15 s keeps idle connections open.
/// </summary>
public sealed class EventStreamResult(IEventFeedGrain feed, long after, TimeSpan poll, string keyId, int maxStreamsPerKey) : IResult, IEndpointMetadataProvider
{
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(15);

    // R-EVENT-3: the kinds on the orchestrator's stream.
    /// <summary>What the orchestrator's stream carries: session and balance events; the rest go to webhooks.</summary>
    public static readonly IReadOnlySet<string> StreamedKinds = new HashSet<string>(StringComparer.Ordinal)
    {
        EventKinds.SessionTerminated, EventKinds.LowBalance, EventKinds.BalanceDepleted, EventKinds.BalanceRecovered,
    };

    public async Task ExecuteAsync(HttpContext context)
    {
        var drain = context.RequestServices.GetRequiredService<ApiDrain>();
        if (drain.IsDraining)
        {
            // This process is stopping: the client reconnects (through the load balancer) to one that is not.
            context.Response.Headers.RetryAfter = "1";
            await ApiProblems.Write(context, ApiProblems.Unavailable, "This API process is stopping; reconnect.");
            return;
        }
        var gate = context.RequestServices.GetRequiredService<EventStreamGate>();
        if (!gate.TryEnter(keyId, maxStreamsPerKey))
        {
            context.Response.Headers.RetryAfter = "5";
            await ApiProblems.Write(context, ApiProblems.TooManyStreams,
                $"This API key already has {maxStreamsPerKey} open event streams; close one first.");
            return;
        }
        try
        {
            await StreamAsync(context, drain);
        }
        finally
        {
            gate.Exit(keyId);
        }
    }

    private async Task StreamAsync(HttpContext context, ApiDrain drain)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        // A graceful stop ends the stream (with a reconnection hint) instead of holding the process open until its bound.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, drain.Stopping);
        var ct = linked.Token;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache,no-store";
        response.Headers.Pragma = "no-cache";
        response.Headers.ContentEncoding = "identity";
        context.Features.GetRequiredFeature<IHttpResponseBodyFeature>().DisableBuffering();
        await response.StartAsync(ct);
        await response.Body.FlushAsync(ct);
        var json = context.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var quietSince = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var events = await feed.Read(after, 200);
                int written = 0;
                foreach (var e in events)
                {
                    after = e.Id;
                    if (!StreamedKinds.Contains(e.Kind)) continue; // the cursor still moves past it
                    written++;
                    var data = JsonSerializer.Serialize(EventDto.From(e), json); // one line: no indentation
                    await response.WriteAsync($"id: {e.Id.ToString(CultureInfo.InvariantCulture)}\nevent: {e.Kind}\ndata: {data}\n\n", ct);
                }
                if (written > 0)
                {
                    await response.Body.FlushAsync(ct);
                    quietSince.Restart();
                }
                if (events.Count > 0) continue; // more may be waiting: read on before sleeping
                if (quietSince.Elapsed >= Heartbeat)
                {
                    await response.WriteAsync(": keep-alive\n\n", ct);
                    await response.Body.FlushAsync(ct);
                    quietSince.Restart();
                }
                await Task.Delay(poll, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The orchestrator went away, or this process is stopping; it resumes with Last-Event-ID.
        }
        if (drain.IsDraining && !aborted.IsCancellationRequested)
        {
            // SSE's retry field: reconnect after this many milliseconds (to another process, through the load balancer).
            var retry = (long)context.RequestServices.GetRequiredService<IOptions<ApiOptions>>().Value.EventStreamRetryAfterStop.TotalMilliseconds;
            try
            {
                await response.WriteAsync($": this API process is stopping; reconnect with Last-Event-ID\nretry: {retry.ToString(CultureInfo.InvariantCulture)}\n\n", aborted);
                await response.Body.FlushAsync(aborted);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                // The client went away meanwhile.
            }
        }
    }

    /// <summary>Declares the stream for the OpenAPI document: 200, text/event-stream, one <see cref="EventDto"/> per event.</summary>
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(EventDto), ["text/event-stream"]));
}

/// <summary>Counts the open event streams of each API key on this API process.</summary>
public sealed class EventStreamGate
{
    private readonly Dictionary<string, int> _open = [];
    private readonly Lock _lock = new();

    public bool TryEnter(string keyId, int max)
    {
        lock (_lock)
        {
            _open.TryGetValue(keyId, out var n);
            if (n >= max) return false;
            _open[keyId] = n + 1;
            return true;
        }
    }

    /// <summary>Raised with the key's id after one of its streams ended (observability, and tests that wait for it).</summary>
    public event Action<string>? Exited;

    public void Exit(string keyId)
    {
        lock (_lock)
        {
            if (_open.TryGetValue(keyId, out var n) && n > 1) _open[keyId] = n - 1;
            else _open.Remove(keyId);
        }
        Exited?.Invoke(keyId);
    }

    public int Open(string keyId)
    {
        lock (_lock) return _open.TryGetValue(keyId, out var n) ? n : 0;
    }
}
