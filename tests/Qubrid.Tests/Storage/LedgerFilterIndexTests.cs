using Npgsql;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>
/// The ledger's kind and date filters are served by indexes: EXPLAIN of the very query <see cref="LedgerStore"/> runs for a
/// page, on a wallet with a long history, shows an index on the filtered column rather than a walk through the whole history.
/// </summary>
public sealed class LedgerFilterIndexTests(LedgerFilterIndexTests.History history) : IClassFixture<LedgerFilterIndexTests.History>
{
    private const string Wallet = "explain-me";
    private const int Rows = 30_000;
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private NpgsqlDataSource _db => history.Db;

    /// <summary>A database with a long history, made once for the class.</summary>
    public sealed class History : IAsyncLifetime
    {
        public NpgsqlDataSource Db { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Db = NpgsqlDataSource.Create(await TestDatabase.CreateAsync("explain"));
            await FillAsync(Db);
        }

        public async Task DisposeAsync() => await Db.DisposeAsync();
    }

    private static async Task FillAsync(NpgsqlDataSource _db)
    {
        // A long history: an inference charge every 10 minutes, a grant every 1,000th entry; and a few other wallets.
        await TestDatabase.ExecAsync(_db, """
            INSERT INTO qubrid_wallets (wallet_id, created_at, balance, next_seq, version)
            SELECT w, $1, 0, 1, 1 FROM unnest(ARRAY['explain-me', 'other-a', 'other-b']) AS w;
            """, Start.UtcDateTime);
        await TestDatabase.ExecAsync(_db, """
            INSERT INTO qubrid_ledger (wallet_id, seq, at, kind, amount, balance_after, reference)
            SELECT w, s, $1 + s * interval '10 minutes', CASE WHEN s % 1000 = 0 THEN 'grant' ELSE 'inference_charge' END,
                   CASE WHEN s % 1000 = 0 THEN 1000000 ELSE -1 END, 1000000, 'r' || s
            FROM unnest(ARRAY['explain-me', 'other-a', 'other-b']) AS w, generate_series(1, $2) AS s;
            """, Start.UtcDateTime, Rows);
        await TestDatabase.ExecAsync(_db, "ANALYZE qubrid_ledger");
    }

    [Fact]
    public async Task A_kind_filter_reads_the_kind_index()
    {
        var plan = await ExplainAsync(new LedgerQuery(Kinds: [LedgerEntryKind.Grant], Limit: 50));
        Assert.True(plan.Contains("qubrid_ledger_kind") && IndexCondition(plan).Contains("kind = ANY"), plan);
        Assert.DoesNotContain("Seq Scan on qubrid_ledger e", plan);
    }

    [Fact]
    public async Task A_kind_filter_with_a_cursor_reads_the_kind_index()
    {
        var plan = await ExplainAsync(new LedgerQuery(Kinds: [LedgerEntryKind.Grant], Before: 20_000, Limit: 50));
        Assert.True(plan.Contains("qubrid_ledger_kind") && IndexCondition(plan).Contains("kind = ANY"), plan);
    }

    [Fact]
    public async Task A_date_range_reads_the_date_index()
    {
        var plan = await ExplainAsync(new LedgerQuery(From: Start.AddDays(100), To: Start.AddDays(101), Limit: 500));
        Assert.True(plan.Contains("qubrid_ledger_at") && IndexCondition(plan).Contains("at >="), plan);
        Assert.DoesNotContain("Seq Scan on qubrid_ledger e", plan);
    }

    [Fact]
    public async Task A_kind_filter_within_a_date_range_reads_an_index_on_a_filtered_column()
    {
        var plan = await ExplainAsync(new LedgerQuery(Kinds: [LedgerEntryKind.Grant], From: Start.AddDays(100), To: Start.AddDays(130), Limit: 500));
        Assert.True(IndexCondition(plan).Contains("kind = ANY") || IndexCondition(plan).Contains("at >="), plan);
        Assert.DoesNotContain("Seq Scan on qubrid_ledger e", plan);
    }

    [Fact]
    public async Task The_page_query_finds_what_the_filters_select()
    {
        await using var cmd = LedgerStore.LedgerPageCommand(_db, Wallet, new LedgerQuery(Kinds: [LedgerEntryKind.Grant], Limit: 500), 501);
        await using var reader = await cmd.ExecuteReaderAsync();
        var seqs = new List<long>();
        while (await reader.ReadAsync()) seqs.Add(reader.GetInt64(0));
        Assert.Equal(Enumerable.Range(1, Rows / 1000).Select(i => (long)(Rows - (i - 1) * 1000)), seqs);
    }

    /// <summary>The plan's index conditions: what an index narrows down, rather than a filter applied to every row read.</summary>
    private static string IndexCondition(string plan) =>
        string.Join('\n', plan.Split('\n').Where(l => l.TrimStart().StartsWith("Index Cond:", StringComparison.Ordinal)));

    private async Task<string> ExplainAsync(LedgerQuery query)
    {
        await using var cmd = LedgerStore.LedgerPageCommand(_db, Wallet, query, query.Limit + 1);
        cmd.CommandText = "EXPLAIN " + cmd.CommandText;
        await using var reader = await cmd.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync()) lines.Add(reader.GetString(0));
        return string.Join('\n', lines);
    }
}
