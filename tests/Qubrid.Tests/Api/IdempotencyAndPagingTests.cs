using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>
/// SPEC "Idempotency" and "Transaction history" over HTTP: replays return the first result, a reused key with
/// another request is 409; the ledger's cursor pages return every entry exactly once even while entries are
/// being added; kind and date filters; the CSV export holds the same rows as the JSON pages.
/// </summary>
[Collection(ApiCollection.Name)]
public class IdempotencyAndPagingTests(ApiHost api)
{
    private sealed record Entry(long Seq, DateTimeOffset At, string Kind, decimal Amount);

    [Fact]
    [Trait("Rule", "R-IDEM-2")]
    public async Task Replaying_an_inference_charge_returns_the_identical_body_and_another_body_under_the_key_is_409()
    {
        var (userId, user) = await api.NewUserAsync("idem-inf");
        var orchestrator = await OrchestratorAsync();
        var key = $"q-{Guid.NewGuid():N}";
        var charge = new { userId, model = "deepseek-r1", inputTokens = 1000, outputTokens = 2000 };

        var first = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", charge, key));
        var replay = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", charge, key));
        var other = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges", charge with { outputTokens = 2001 }, key));

        Assert.Equal(201, (int)first.StatusCode);
        Assert.Equal(201, (int)replay.StatusCode);
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Equal(firstBody, await replay.Content.ReadAsStringAsync());
        // 1000 × 0.55 + 2000 × 2.19 micro-credits = 4930 micro-credits.
        Assert.Equal(0.00493m, JsonDocument.Parse(firstBody).RootElement.GetProperty("amount").GetDecimal());
        Assert.Equal(409, (int)other.StatusCode);
        Assert.Equal("application/problem+json", other.Content.Headers.ContentType?.MediaType);
        Assert.Equal("idempotency_conflict", (await Json(other)).GetProperty("code").GetString());

        var ledger = await AllEntriesAsync(user, userId, "limit=500");
        Assert.Single(ledger, e => e.Kind == "inference_charge");
        Assert.Equal(5m - 0.00493m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
    }

    [Fact]
    public async Task Cursor_pages_return_every_entry_exactly_once_newest_first_while_entries_are_being_added()
    {
        var (userId, user) = await api.NewUserAsync("page-live");
        var orchestrator = await OrchestratorAsync();
        // 120 small inference charges (0.00013 USD each), a few at a time.
        for (int batch = 0; batch < 12; batch++)
        {
            var sent = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => ChargeAsync(orchestrator, userId)));
            Assert.All(sent, status => Assert.Equal(201, status));
        }
        Assert.Equal(121, (await SeqsInDatabaseAsync(userId)).Count); // the sign-up bonus and the 120 charges

        // A writer that keeps adding entries while we page, and stops by itself after 100 more.
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var writing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int added = 0;
        var writer = Task.Run(async () =>
        {
            try
            {
                for (int i = 0; i < 100 && !stop.IsCancellationRequested; i++)
                {
                    Assert.Equal(201, await ChargeAsync(orchestrator, userId));
                    Interlocked.Increment(ref added);
                    writing.TrySetResult();
                }
            }
            catch (Exception e)
            {
                writing.TrySetException(e);
                throw;
            }
        });
        await writing.Task.WaitAsync(TimeSpan.FromSeconds(30)); // the writer is running
        var existing = await SeqsInDatabaseAsync(userId); // what exists when paging starts

        var seen = new List<long>();
        string? cursor = null;
        int pages = 0;
        do
        {
            Assert.True(++pages <= 100, "paging did not end within 100 pages");
            var page = await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger?limit=7{(cursor is null ? "" : $"&cursor={cursor}")}"));
            var items = page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("seq").GetInt64()).ToList();
            Assert.InRange(items.Count, 1, 7);
            seen.AddRange(items);
            cursor = page.GetProperty("nextCursor").ValueKind == JsonValueKind.Null ? null : page.GetProperty("nextCursor").GetString();
            if (cursor is not null) Assert.Equal(7, items.Count); // only the last page may be short
        }
        while (cursor is not null);
        int addedWhilePaging = Volatile.Read(ref added);
        await writer;

        Assert.Equal(seen.Count, seen.Distinct().Count());
        for (int i = 1; i < seen.Count; i++) Assert.True(seen[i] < seen[i - 1], $"seq {seen[i]} follows {seen[i - 1]} at position {i}: not strictly decreasing");
        var missing = existing.Except(seen).ToList();
        Assert.True(missing.Count == 0, $"entries that existed before paging began are missing: {string.Join(", ", missing)}");
        Assert.Subset(await SeqsInDatabaseAsync(userId), seen.ToHashSet()); // and nothing that does not exist
        Assert.Equal(100, added);
        Assert.True(pages >= 18, $"{pages} pages for at least 121 entries of 7 ({addedWhilePaging} added while paging)");
    }

    [Fact]
    public async Task Kind_and_date_filters_select_exactly_the_matching_entries_and_the_CSV_has_the_same_rows_as_the_pages()
    {
        var (userId, user) = await api.NewUserAsync("page-filter");
        var admin = api.Client(api.AdminKey);
        var orchestrator = await OrchestratorAsync();
        // One entry per request, in this order, a second apart on the host's clock: a mix of every kind the API can write.
        var opened = api.Clock.GetUtcNow(); // the wallet's sign-up bonus
        async Task Do(HttpClient client, string url, object body)
        {
            api.Clock.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(201, (int)(await client.SendAsync(ApiHost.Post(url, body, $"f-{Guid.NewGuid():N}"))).StatusCode);
        }
        for (int round = 0; round < 3; round++)
        {
            await Do(admin, $"/v1/wallets/{userId}/grants", new { amount = 2.5m, expiresAt = api.Clock.GetUtcNow().AddDays(10), reason = "promo, with a comma" });
            await Do(user, $"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" });
            await Do(orchestrator, "/v1/inference/charges", new { userId, model = "llama-3.3-70b-instruct", inputTokens = 1234, outputTokens = 567 });
            await Do(orchestrator, "/v1/premium/charges", new { userId, name = "flux-pro-image", reference = "=cmd|' /C calc'!A0" });
            await Do(admin, $"/v1/wallets/{userId}/refunds", new { amount = 0.25m, reason = "refund \"quoted\"" });
            await Do(admin, $"/v1/wallets/{userId}/adjustments", new { amount = round % 2 == 0 ? -0.125m : 0.5m, reason = "correction" });
        }

        var all = await AllEntriesAsync(user, userId, "limit=7");
        Assert.Equal(1 + 3 * 6, all.Count);
        Assert.Equal(all.OrderByDescending(e => e.Seq).Select(e => e.Seq), all.Select(e => e.Seq));
        Assert.Equal(Enumerable.Range(0, all.Count).Select(i => opened.AddSeconds(i)), all.OrderBy(e => e.Seq).Select(e => e.At));

        // Kind filters, single and several (comma-separated or repeated).
        foreach (var kind in new[] { "grant", "topup", "inference_charge", "premium_access", "refund", "adjustment", "session_charge", "expiration" })
        {
            var filtered = await AllEntriesAsync(user, userId, $"kind={kind}&limit=2");
            Assert.Equal(all.Where(e => e.Kind == kind).Select(e => e.Seq), filtered.Select(e => e.Seq));
        }
        var several = all.Where(e => e.Kind is "grant" or "refund").Select(e => e.Seq).ToList();
        Assert.Equal(several, (await AllEntriesAsync(user, userId, "kind=grant,refund&limit=3")).Select(e => e.Seq));
        Assert.Equal(several, (await AllEntriesAsync(user, userId, "kind=grant&kind=refund&limit=3")).Select(e => e.Seq));

        // Date filters: from is inclusive, to exclusive; cut at entries' own times so the expectation is exact.
        var ascending = all.OrderBy(e => e.Seq).ToList();
        var early = ascending[5].At;
        var late = ascending[14].At;
        Assert.True(early < late);
        Assert.Equal(all.Where(e => e.At >= early).Select(e => e.Seq), (await AllEntriesAsync(user, userId, $"from={Time(early)}&limit=4")).Select(e => e.Seq));
        Assert.Equal(all.Where(e => e.At < late).Select(e => e.Seq), (await AllEntriesAsync(user, userId, $"to={Time(late)}&limit=4")).Select(e => e.Seq));
        var window = all.Where(e => e.At >= early && e.At < late).ToList();
        Assert.NotEmpty(window);
        Assert.Equal(window.Select(e => e.Seq), (await AllEntriesAsync(user, userId, $"from={Time(early)}&to={Time(late)}&limit=4")).Select(e => e.Seq));
        Assert.Equal(window.Where(e => e.Kind == "topup").Select(e => e.Seq),
            (await AllEntriesAsync(user, userId, $"kind=topup&from={Time(early)}&to={Time(late)}")).Select(e => e.Seq));
        Assert.Empty(await AllEntriesAsync(user, userId, $"from={Time(api.Clock.GetUtcNow().AddSeconds(1))}"));
        Assert.Single(await AllEntriesAsync(user, userId, $"from={Time(api.Clock.GetUtcNow())}"));

        // The CSV export: a header and exactly the rows of the JSON pages, in the same order with the same amounts.
        var csvResponse = await user.GetAsync($"/v1/wallets/{userId}/ledger.csv");
        Assert.Equal(200, (int)csvResponse.StatusCode);
        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType?.MediaType);
        var csv = await csvResponse.Content.ReadAsStringAsync();
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("seq,at,kind,amount,balanceAfter,reference,idempotencyKey,lots,memberId,projectId", lines[0]);
        var rows = lines.Skip(1).Select(line => line.Split(',', 5)).Select(f => (Seq: long.Parse(f[0], CultureInfo.InvariantCulture), Kind: f[2],
            Amount: decimal.Parse(f[3], NumberStyles.Number, CultureInfo.InvariantCulture))).ToList();
        Assert.Equal(all.Select(e => (e.Seq, e.Kind, e.Amount)), rows);
        // ... and a filtered export matches the filtered pages.
        var filteredCsv = (await user.GetStringAsync($"/v1/wallets/{userId}/ledger.csv?kind=inference_charge,premium_access"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => long.Parse(l.Split(',')[0], CultureInfo.InvariantCulture));
        Assert.Equal(all.Where(e => e.Kind is "inference_charge" or "premium_access").Select(e => e.Seq), filteredCsv);
    }

    private static string Time(DateTimeOffset at) => Uri.EscapeDataString(at.ToString("O", CultureInfo.InvariantCulture));

    private static async Task<int> ChargeAsync(HttpClient orchestrator, string userId)
    {
        using var response = await orchestrator.SendAsync(ApiHost.Post("/v1/inference/charges",
            new { userId, model = "llama-3.1-8b-instruct", inputTokens = 1000, outputTokens = 1000 }, $"p-{Guid.NewGuid():N}"));
        return (int)response.StatusCode;
    }

    /// <summary>Every entry through the cursor, newest first; checks that each page is within the limit.</summary>
    private static async Task<List<Entry>> AllEntriesAsync(HttpClient client, string userId, string query)
    {
        var entries = new List<Entry>();
        string? cursor = null;
        for (int pages = 0; ; pages++)
        {
            Assert.True(pages < 1000, "paging did not end");
            var response = await client.GetAsync($"/v1/wallets/{userId}/ledger?{query}{(cursor is null ? "" : $"&cursor={cursor}")}");
            Assert.True((int)response.StatusCode == 200, $"ledger?{query}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            var page = await Json(response);
            entries.AddRange(page.GetProperty("items").EnumerateArray().Select(e => new Entry(
                e.GetProperty("seq").GetInt64(), e.GetProperty("at").GetDateTimeOffset(), e.GetProperty("kind").GetString()!, e.GetProperty("amount").GetDecimal())));
            var next = page.GetProperty("nextCursor");
            if (next.ValueKind == JsonValueKind.Null) return entries;
            cursor = next.GetString();
        }
    }

    private async Task<HashSet<long>> SeqsInDatabaseAsync(string walletId)
    {
        await using var cmd = api.Db.CreateCommand("SELECT seq FROM qubrid_ledger WHERE wallet_id = $1");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = walletId });
        await using var reader = await cmd.ExecuteReaderAsync();
        var seqs = new HashSet<long>();
        while (await reader.ReadAsync()) seqs.Add(reader.GetInt64(0));
        return seqs;
    }

    private async Task<HttpClient> OrchestratorAsync() => api.Client(await api.IssueKeyAsync("orchestrator"));

}
