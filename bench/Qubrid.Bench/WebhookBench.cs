using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Qubrid.Bench;

/// <summary>
/// Webhook delivery (QUBRID_BENCH_ONLY=webhooks; prints its figures, writes no report): deliveries/s to a local
/// receiver (one endpoint, and 8 endpoints at once) from a backlog of events, and the lag from an event's commit to
/// its arrival at the receiver when events commit one at a time. Events are inserted into the outbox as the ledger
/// writer does (under the event lock, one transaction each for the lag run).
/// </summary>
public static class WebhookBench
{
    public static async Task RunAsync()
    {
        var cs = await Databases.CreateAsync("webhooks");
        var settings = new Dictionary<string, string?> { ["Qubrid:Webhooks:AllowedHosts:0"] = "127.0.0.1" };
        await using var system = await SystemHost.StartAsync(cs, settings);
        await using var receiver = await Receiver.StartAsync();
        await using var db = NpgsqlDataSource.Create(cs);
        var registry = system.Client.GetGrain<IWebhookRegistryGrain>(0);

        // Throughput: a backlog of events, one endpoint, then 8 endpoints (each receives every event).
        foreach (var endpoints in new[] { 1, 8 })
        {
            const int Events = 3000;
            var ids = new List<string>();
            for (int i = 0; i < endpoints; i++)
                ids.Add((await registry.Create(new CreateWebhookRequest(receiver.Url, [EventKinds.TopupFailed], null))).Endpoint!.Id);
            receiver.Reset();
            var started = Stopwatch.StartNew();
            await InsertEventsAsync(db, Events, oneTransaction: true);
            await receiver.UntilAsync(Events * endpoints, TimeSpan.FromMinutes(5));
            var seconds = started.Elapsed.TotalSeconds;
            Console.WriteLine($"webhooks: {endpoints} endpoint(s), {Events} events each: {Events * endpoints} deliveries in {seconds:0.0} s = {Events * endpoints / seconds:0} deliveries/s");
            foreach (var id in ids) await system.Client.GetGrain<IWebhookEndpointGrain>(id).Delete();
        }

        // Lag: events committed one at a time, 20 per second for 15 s, to one endpoint.
        await registry.Create(new CreateWebhookRequest(receiver.Url, [EventKinds.TopupFailed], null));
        receiver.Reset();
        var committed = new ConcurrentDictionary<long, long>();
        for (int i = 0; i < 300; i++)
        {
            var id = (await InsertEventsAsync(db, 1, oneTransaction: true))[0];
            committed[id] = Stopwatch.GetTimestamp();
            await Task.Delay(50);
        }
        await receiver.UntilAsync(300, TimeSpan.FromMinutes(2));
        var lags = committed.Select(c => Stopwatch.GetElapsedTime(c.Value, receiver.ArrivedAt(c.Key)).TotalMilliseconds).Order().ToList();
        double P(double q) => lags[Math.Min(lags.Count - 1, (int)Math.Ceiling(q * lags.Count) - 1)];
        Console.WriteLine($"webhooks: commit-to-delivery lag over {lags.Count} events at 20/s: p50 {P(0.50):0.0} ms, p99 {P(0.99):0.0} ms, max {lags[^1]:0.0} ms (poll interval 100 ms)");
    }

    private static async Task<List<long>> InsertEventsAsync(NpgsqlDataSource db, int count, bool oneTransaction)
    {
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(81770001)", conn, tx)) await lockCmd.ExecuteNonQueryAsync();
        var ids = new List<long>();
        await using (var cmd = new NpgsqlCommand(
            """
            INSERT INTO qubrid_events (at, kind, wallet_id, session_id, reason, balance, runway_seconds, data)
            SELECT now(), 'topup_failed', 'bench-user', NULL, 'declined', 0, NULL, jsonb_build_object('paymentId', 'pay_bench_' || g, 'amount', 10)
            FROM generate_series(1, $1) g RETURNING id
            """, conn, tx))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = count });
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) ids.Add(reader.GetInt64(0));
        }
        await tx.CommitAsync();
        return ids;
    }

    /// <summary>A local receiver that answers 204 and notes when each event first arrived.</summary>
    private sealed class Receiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentDictionary<long, long> _arrived = new();
        private int _count;
        private Receiver(WebApplication app) => _app = app;
        public string Url { get; private set; } = "";

        public static async Task<Receiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var receiver = new Receiver(app);
            app.MapPost("/hook", async (HttpContext context) =>
            {
                using var json = await JsonDocument.ParseAsync(context.Request.Body);
                var id = long.Parse(json.RootElement.GetProperty("id").GetString()!["evt_".Length..], CultureInfo.InvariantCulture);
                receiver._arrived.TryAdd(id, Stopwatch.GetTimestamp());
                Interlocked.Increment(ref receiver._count);
                return Results.NoContent();
            });
            await app.StartAsync();
            receiver.Url = app.Urls.Single().TrimEnd('/') + "/hook";
            return receiver;
        }

        public void Reset()
        {
            _arrived.Clear();
            Interlocked.Exchange(ref _count, 0);
        }

        public long ArrivedAt(long id) => _arrived[id];

        public async Task UntilAsync(int requests, TimeSpan timeout)
        {
            var deadline = Stopwatch.StartNew();
            while (Volatile.Read(ref _count) < requests)
            {
                if (deadline.Elapsed > timeout) throw new TimeoutException($"{_count} of {requests} deliveries arrived.");
                await Task.Delay(5);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
