using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Qubrid.FaultDriver;

/// <summary>
/// Drives concurrent HTTP load: top-ups and inference charges with unique idempotency keys, plus running
/// sessions; records every answer. Bounded in time and count; talks only to the given (loopback) URL.
/// </summary>
public static class LoadCommand
{
    private const int MaxOperations = 200_000;
    private static readonly string[] Models = ["llama-3.1-8b-instruct", "llama-3.3-70b-instruct", "qwen2.5-coder-32b", "deepseek-r1"];
    private static readonly string[] InstanceTypes = ["T4", "L4", "A100", "H200", "CPU"];

    public static async Task<int> RunAsync(Options o)
    {
        var url = new Uri(o.Get("url"));
        if (!url.IsLoopback) throw new ArgumentException("The fault driver only talks to loopback addresses.");
        var outDir = o.Get("out");
        Directory.CreateDirectory(outDir);
        int seconds = o.Int("seconds", 40), walletCount = o.Int("wallets", 20), sessionCount = o.Int("sessions", 60), workers = o.Int("workers", 16);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 256 }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(15) };
        var admin = o.Get("admin-key");
        // Stops early once this file exists (a scenario that ends the load when its steps are done), within --seconds.
        var stopFile = o.Find("stop-file");

        // Setup: wallets funded by an admin adjustment, one user key each, one orchestrator key; then the sessions.
        var orchestrator = await IssueKeyAsync(http, admin, "orchestrator", null);
        var wallets = new List<(string Id, string Key)>();
        for (int i = 0; i < walletCount; i++)
        {
            var id = $"fault-{Guid.NewGuid():N}"[..24];
            await Must(Send(http, HttpMethod.Put, $"/v1/wallets/{id}", admin, null, null));
            await Must(Send(http, HttpMethod.Post, $"/v1/wallets/{id}/adjustments", admin, new { amount = 5000, reason = "fault test funding" }, $"fund-{id}"));
            wallets.Add((id, await IssueKeyAsync(http, admin, "user", id)));
        }
        var sessions = new List<SessionRecord>();
        for (int i = 0; i < sessionCount; i++)
        {
            var wallet = wallets[i % wallets.Count];
            var sessionId = $"fs-{Guid.NewGuid():N}"[..24];
            var type = InstanceTypes[i % InstanceTypes.Length];
            var r = await Send(http, HttpMethod.Post, "/v1/sessions", orchestrator, new { sessionId, userId = wallet.Id, instanceType = type }, null);
            sessions.Add(new SessionRecord(sessionId, wallet.Id, type, r.IsSuccessStatusCode, false));
        }
        Console.WriteLine($"setup: {wallets.Count} wallets, {sessions.Count(s => s.Started)} sessions running");

        // Load: a fixed duration, a bounded count.
        var records = new ConcurrentBag<OpRecord>();
        var stopAt = Stopwatch.StartNew();
        int issued = 0;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w * 7919 + 1);
            while (stopAt.Elapsed < TimeSpan.FromSeconds(seconds) && (stopFile is null || !File.Exists(stopFile)) && Interlocked.Increment(ref issued) <= MaxOperations)
            {
                var wallet = wallets[random.Next(wallets.Count)];
                var key = $"op-{Guid.NewGuid():N}";
                bool topup = random.Next(10) < 3;
                double sent = Now();
                HttpResponseMessage? response = null;
                try
                {
                    response = topup
                        ? await Send(http, HttpMethod.Post, $"/v1/wallets/{wallet.Id}/topups", wallet.Key,
                            new { amount = random.Next(5, 50), paymentToken = random.Next(10) == 0 ? "tok_chargeDeclined" : "tok_visa" }, key)
                        : await Send(http, HttpMethod.Post, "/v1/inference/charges", orchestrator,
                            new { userId = wallet.Id, model = Models[random.Next(Models.Length)], inputTokens = random.Next(1, 20_000), outputTokens = random.Next(1, 20_000) }, key);
                    records.Add(await RecordAsync(topup ? "topup" : "inference", wallet.Id, key, response, sent));
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    records.Add(new OpRecord(topup ? "topup" : "inference", wallet.Id, key, 0, e.GetType().Name, false, null, null, null, sent, Now()));
                    await Task.Delay(50);
                }
                finally
                {
                    response?.Dispose();
                }
            }
        })));

        // Stop every session (retrying until the cluster answers, bounded) so each has a definite end.
        for (int i = 0; i < sessions.Count; i++)
        {
            if (!sessions[i].Started) continue;
            for (int attempt = 0; attempt < 30; attempt++)
            {
                try
                {
                    using var r = await Send(http, HttpMethod.Post, $"/v1/sessions/{sessions[i].SessionId}/stop", orchestrator, null, null);
                    if (r.IsSuccessStatusCode) { sessions[i] = sessions[i] with { Stopped = true }; break; }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
                await Task.Delay(500);
            }
        }

        await File.WriteAllLinesAsync(Path.Combine(outDir, "ops.jsonl"), records.OrderBy(r => r.SentAt).Select(r => JsonSerializer.Serialize(r)));
        await File.WriteAllTextAsync(Path.Combine(outDir, "sessions.json"), JsonSerializer.Serialize(sessions));
        var all = records.ToList();
        Console.WriteLine($"load: {all.Count} operations in {stopAt.Elapsed.TotalSeconds:0} s, {all.Count(r => r.Acknowledged)} acknowledged, " +
            $"{all.Count(r => r.Status == 503)} answered 503, {all.Count(r => r.Status == 0)} unanswered, {all.Count(r => r.Status is 402)} refused 402; " +
            $"{sessions.Count(s => s.Stopped)}/{sessions.Count(s => s.Started)} sessions stopped");
        return 0;
    }

    private static async Task<OpRecord> RecordAsync(string kind, string walletId, string key, HttpResponseMessage response, double sent)
    {
        var status = (int)response.StatusCode;
        var problem = response.Content.Headers.ContentType?.MediaType == "application/problem+json";
        JsonElement body = default;
        try { body = await response.Content.ReadFromJsonAsync<JsonElement>(); } catch (JsonException) { }
        string? Str(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        long? Long(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
        decimal? Dec(string name) => body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDecimal() : null;
        var retryAfter = response.Headers.RetryAfter?.ToString();
        return new OpRecord(kind, walletId, key, status, Str("code"), problem, Long("seq"), Dec("amount"), Str("paymentId"), sent, Now(), retryAfter);
    }

    private static async Task<string> IssueKeyAsync(HttpClient http, string admin, string role, string? userId)
    {
        using var r = await Must(Send(http, HttpMethod.Post, "/v1/api-keys", admin, new { role, userId }, null));
        return (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }

    private static Task<HttpResponseMessage> Send(HttpClient http, HttpMethod method, string path, string key, object? body, string? idempotencyKey)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (body is not null) request.Content = JsonContent.Create(body);
        return http.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> Must(Task<HttpResponseMessage> call)
    {
        var r = await call;
        if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"setup call failed: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}");
        return r;
    }

    private static double Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
}
