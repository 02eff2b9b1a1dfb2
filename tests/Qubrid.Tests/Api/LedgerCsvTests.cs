using System.Net.Http.Json;
using Microsoft.AspNetCore.Http;
using Qubrid.Api.Apis;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

/// <summary>The ledger CSV: cells a spreadsheet would run are neutralised, and the file is written page by page as it is read.</summary>
[Collection(ApiCollection.Name)]
public class LedgerCsvTests(ApiHost api)
{
    [Theory]
    [InlineData("=1+1", "'=1+1")]
    [InlineData("+1", "'+1")]
    [InlineData("-1", "'-1")]
    [InlineData("@SUM(A1)", "'@SUM(A1)")]
    [InlineData("\tx", "'\tx")]
    [InlineData("\r=1", "\"'\r=1\"")]
    [InlineData("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")]
    [InlineData("=1,2", "\"'=1,2\"")]
    [InlineData("plain text", "plain text")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("", "")]
    public void Cells_that_start_like_a_formula_get_a_leading_quote(string value, string cell) => Assert.Equal(cell, LedgerCsv.Cell(value));

    [Fact]
    public async Task Reasons_and_keys_that_start_like_formulas_are_not_formulas_in_the_downloaded_csv()
    {
        var (userId, user) = await api.NewUserAsync("csv-inject");
        var admin = api.Client(api.AdminKey);
        string[] reasons = ["=1+1", "+1", "-1", "@SUM(A1)", "=cmd|' /C calc'!A0"];
        foreach (var reason in reasons)
        {
            var response = await admin.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/refunds", new { amount = 1, reason }, $"{reason[0]}key-{Guid.NewGuid():N}"));
            Assert.Equal(201, (int)response.StatusCode);
        }
        var csv = await user.GetStringAsync($"/v1/wallets/{userId}/ledger.csv?kind=refund");
        var rows = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')).ToList();
        Assert.Equal(reasons.Reverse(), rows.Select(r => r[5][1..]));
        foreach (var r in rows)
        {
            Assert.StartsWith("'", r[5]);
            Assert.StartsWith("'", r[6]); // the idempotency key started with the same character
        }
    }

    [Fact]
    public async Task The_csv_is_written_page_by_page_as_the_pages_are_read()
    {
        const int pages = 4;
        int read = 0;
        var writesBeforeEachRead = new List<int>();
        var body = new CountingStream();
        Task<LedgerPage?> ReadPage(LedgerQuery q)
        {
            writesBeforeEachRead.Add(body.Writes);
            int page = read++;
            var items = Enumerable.Range(0, LedgerQuery.MaxLimit).Select(i =>
            {
                long seq = (pages - page) * (long)LedgerQuery.MaxLimit - i;
                return new LedgerEntryView(seq, DateTimeOffset.UnixEpoch.AddSeconds(seq), LedgerEntryKind.Refund, new Micros(1_000_000), new Micros(seq),
                    [], $"r{seq}", null, null);
            }).ToList();
            return Task.FromResult<LedgerPage?>(new LedgerPage(items, page + 1 < pages ? items[^1].Seq : null));
        }

        var result = await LedgerCsv.OpenAsync(ReadPage, new LedgerQuery(), "x.csv");
        Assert.NotNull(result);
        Assert.Equal(1, read); // the first page (a missing wallet is still a 404); nothing written yet
        var context = new DefaultHttpContext();
        context.Response.Body = body;
        await result.ExecuteAsync(context);

        Assert.Equal(pages, read);
        // Each page after the first was read only after the rows before it had been written out.
        Assert.Equal([0, 2, 3, 4], writesBeforeEachRead);
        var lines = System.Text.Encoding.UTF8.GetString(body.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(1 + pages * LedgerQuery.MaxLimit, lines.Length);
        Assert.Equal("text/csv; charset=utf-8", context.Response.ContentType);
        Assert.Contains("attachment", context.Response.Headers.ContentDisposition.ToString());
    }

    [Fact]
    public async Task A_missing_wallet_gives_no_csv()
    {
        Assert.Null(await LedgerCsv.OpenAsync(_ => Task.FromResult<LedgerPage?>(null), new LedgerQuery(), "x.csv"));
        var response = await api.Client(api.AdminKey).GetAsync($"/v1/wallets/csv-ghost-{Guid.NewGuid():N}/ledger.csv");
        Assert.Equal(404, (int)response.StatusCode);
        Assert.Equal("wallet_not_found", (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("code").GetString());
    }

    private sealed class CountingStream : MemoryStream
    {
        public int Writes { get; private set; }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
        {
            Writes++;
            return base.WriteAsync(buffer, ct);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
        {
            Writes++;
            return base.WriteAsync(buffer, offset, count, ct);
        }
    }
}
