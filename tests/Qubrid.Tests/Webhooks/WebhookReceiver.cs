using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Qubrid.Tests.Webhooks;

/// <summary>
/// A real HTTP receiver (Kestrel on a free 127.0.0.1 port) that verifies each request's Qubrid-Signature as the README
/// tells receivers to, and records what arrived in arrival order. It can be made to fail (503) or to drop connections.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    public enum Mode { Healthy, Failing, Down }

    /// <summary>One request as received.</summary>
    public sealed record Received(long EventId, string Type, JsonElement Data, bool SignatureValid, DateTimeOffset ReceivedAt, string Body);

    private readonly WebApplication _app;
    private readonly List<Received> _received = [];
    private readonly object _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public volatile Mode Behaviour = Mode.Healthy;
    public string Secret { get; set; } = "";
    public int Refused;

    private WebhookReceiver(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hook", receiver.HandleAsync);
        await app.StartAsync();
        var address = app.Urls.Single();
        receiver.Url = address.TrimEnd('/') + "/hook";
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        switch (Behaviour)
        {
            case Mode.Down:
                Interlocked.Increment(ref Refused);
                Signal();
                context.Abort();
                return;
            case Mode.Failing:
                Interlocked.Increment(ref Refused);
                Signal();
                context.Response.StatusCode = 503;
                return;
        }
        bool valid = Verify(context.Request.Headers["Qubrid-Signature"].ToString(), body, Secret, DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var id = long.Parse(root.GetProperty("id").GetString()!["evt_".Length..], CultureInfo.InvariantCulture);
        var received = new Received(id, root.GetProperty("type").GetString()!, root.GetProperty("data").Clone(), valid, DateTimeOffset.UtcNow, body);
        TaskCompletionSource changed;
        lock (_gate)
        {
            _received.Add(received);
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
        context.Response.StatusCode = 204;
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        changed.TrySetResult();
    }

    /// <summary>The README's verification: t within the tolerance, v1 = hex HMAC-SHA256(secret, "t.body"), compared in constant time.</summary>
    public static bool Verify(string header, string body, string secret, DateTimeOffset now, TimeSpan tolerance)
    {
        string? t = null, v1 = null;
        foreach (var part in header.Split(','))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2) continue;
            if (kv[0] == "t") t = kv[1];
            else if (kv[0] == "v1") v1 = kv[1];
        }
        if (t is null || v1 is null || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) return false;
        if ((now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > tolerance) return false;
        var expected = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{t}.{body}"));
        byte[] given;
        try { given = Convert.FromHexString(v1); } catch (FormatException) { return false; }
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    public IReadOnlyList<Received> Snapshot()
    {
        lock (_gate) return _received.ToList();
    }

    /// <summary>
    /// Waits until what was received satisfies <paramref name="done"/>; each request (answered or refused) wakes it, no
    /// polling. The timeout only bounds a hang.
    /// </summary>
    public async Task<IReadOnlyList<Received>> UntilAsync(Func<IReadOnlyList<Received>, bool> done, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            IReadOnlyList<Received> now;
            lock (_gate)
            {
                now = _received.ToList();
                changed = _changed.Task;
            }
            if (done(now)) return now;
            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0} s for {what}; received {now.Count} requests.");
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
