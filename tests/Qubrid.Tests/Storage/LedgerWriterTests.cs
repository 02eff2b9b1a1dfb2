using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Qubrid.Core;
using Qubrid.Storage;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Storage;

/// <summary>The silo's ledger writer against a real PostgreSQL: many wallets per transaction, refusals isolated.</summary>
public sealed class LedgerWriterTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private NpgsqlDataSource _db = null!;
    private LedgerWriter _writer = null!;

    public async Task InitializeAsync()
    {
        _db = NpgsqlDataSource.Create(await TestDatabase.CreateAsync("writer"));
        _writer = new LedgerWriter(_db, new LedgerOptions { Writers = 1 }, NullLogger.Instance);
    }

    public async Task DisposeAsync()
    {
        await _writer.DisposeAsync();
        await _db.DisposeAsync();
    }

    [Fact]
    [Trait("Rule", "R-LEDGER-3")]
    public async Task Batches_of_several_wallets_written_together_commit_in_one_transaction()
    {
        var books = await CreateWalletsAsync("a", "b", "c");
        var commits = books.Select(b => DebitCommit(b, $"{b.WalletId}-q1", 1m)).ToList();

        await _writer.WriteTogetherAsync(commits);

        foreach (var c in commits) Assert.Equal(2, await c.Completion.Task);
        Assert.Equal(1, await TestDatabase.ScalarAsync(_db, "SELECT count(DISTINCT xmin::text) FROM qubrid_ledger WHERE seq = 2"));
        Assert.Equal(3, await TestDatabase.ScalarAsync(_db, "SELECT count(*) FROM qubrid_ledger WHERE seq = 2"));
        Assert.True((await Reconciler.RunAsync(_db)).IsClean);
    }

    [Fact]
    public async Task A_full_writer_queue_turns_a_wallet_batch_away_as_busy_and_queues_nothing()
    {
        // No writer loop (below the validated range): every batch handed over stays queued.
        await using var idle = new LedgerWriter(_db, new LedgerOptions { Writers = 0, MaxQueuedBatches = 2 }, NullLogger.Instance);
        var books = await CreateWalletsAsync("q1", "q2", "q3");
        var first = idle.CommitAsync(DebitCommit(books[0], "q1-1", 1m));
        var second = idle.CommitAsync(DebitCommit(books[1], "q2-1", 1m));

        var busy = Assert.Throws<WalletBusyException>(() => { _ = idle.CommitAsync(DebitCommit(books[2], "q3-1", 1m)); });
        Assert.Equal("The ledger writer has 2 wallet batches waiting; try again.", busy.Message);
        Assert.False(first.IsCompleted || second.IsCompleted);
        Assert.Equal(1, await LedgerRowsAsync(books[2].WalletId));
    }

    [Fact]
    public async Task A_refused_batch_fails_alone_and_the_others_of_its_transaction_commit()
    {
        var books = await CreateWalletsAsync("good", "stale", "replayed");
        var (good, stale) = (books[0], books[1]);
        var earlier = DebitCommit(books[2], "used-key", 1m);
        var replayed = earlier.Book;
        replayed.Version = await _writer.CommitAsync(earlier);

        var goodCommit = DebitCommit(good, "g-1", 2m);
        var staleBook = stale.Clone();
        staleBook.Version = 7; // another activation moved this wallet on
        var staleCommit = DebitCommit(staleBook, "s-1", 2m);
        var replayCommit = DebitCommit(replayed, "used-key", 1m); // the wallet forgot it had recorded this key

        await _writer.WriteTogetherAsync([goodCommit, staleCommit, replayCommit]);

        Assert.Equal(2, await goodCommit.Completion.Task);
        await Assert.ThrowsAsync<WalletConcurrencyException>(() => staleCommit.Completion.Task);
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => replayCommit.Completion.Task);
        Assert.Equal(2, await LedgerRowsAsync(good.WalletId));
        Assert.Equal(1, await LedgerRowsAsync(stale.WalletId));
        Assert.Equal(2, await LedgerRowsAsync(replayed.WalletId));
        Assert.Equal(Micros.FromUsd(8m).Value, await TestDatabase.ScalarAsync(_db, "SELECT balance FROM qubrid_wallets WHERE wallet_id = $1", good.WalletId));
        Assert.Equal(Micros.FromUsd(10m).Value, await TestDatabase.ScalarAsync(_db, "SELECT balance FROM qubrid_wallets WHERE wallet_id = $1", stale.WalletId));
        Assert.True((await Reconciler.RunAsync(_db)).IsClean);
    }

    [Fact]
    public async Task A_taken_idempotency_key_fails_only_its_own_wallet_batch()
    {
        var books = await CreateWalletsAsync("good", "replayed");
        var earlier = DebitCommit(books[1], "used-key", 1m);
        var replayed = earlier.Book;
        replayed.Version = await _writer.CommitAsync(earlier);
        var goodCommit = DebitCommit(books[0], "g-1", 2m);
        var replayCommit = DebitCommit(replayed, "used-key", 1m);

        await _writer.WriteTogetherAsync([goodCommit, replayCommit]);

        Assert.Equal(2, await goodCommit.Completion.Task);
        await Assert.ThrowsAsync<IdempotencyKeyTakenException>(() => replayCommit.Completion.Task);
        Assert.Equal(2, await LedgerRowsAsync(books[0].WalletId));
        Assert.Equal(2, await LedgerRowsAsync(replayed.WalletId));
    }

    [Fact]
    public async Task A_batch_the_server_cannot_store_fails_alone_and_the_others_of_its_transaction_commit()
    {
        var books = await CreateWalletsAsync("good", "bad");
        var goodCommit = DebitCommit(books[0], "g-1", 2m);
        var badCommit = DebitCommit(books[1], "b-1", 2m, reference: "nul\0in text"); // PostgreSQL text cannot hold NUL

        await _writer.WriteTogetherAsync([goodCommit, badCommit]);

        Assert.Equal(2, await goodCommit.Completion.Task);
        await Assert.ThrowsAsync<PostgresException>(() => badCommit.Completion.Task);
        Assert.Equal(2, await LedgerRowsAsync(books[0].WalletId));
        Assert.Equal(1, await LedgerRowsAsync(books[1].WalletId));
    }

    [Fact]
    public async Task A_writer_whose_server_turned_read_only_fails_its_batches_then_writes_on_the_writable_server_without_a_restart()
    {
        var book = (await CreateWalletsAsync("demoted"))[0];
        var before = DebitCommit(book, "before", 1m);
        book = before.Book;
        book.Version = await _writer.CommitAsync(before);

        await ServerRole.DemoteAsync(_db.ConnectionString);
        // The writer's connection was cut; the next one it opens is read-only (SQLSTATE 25006). Bounded: a few batches.
        string? sqlState = null;
        for (int attempt = 0; attempt < 5 && sqlState != PostgresErrorCodes.ReadOnlySqlTransaction; attempt++)
        {
            var failed = await Assert.ThrowsAnyAsync<Exception>(() => _writer.CommitAsync(DebitCommit(book, "during", 1m)));
            sqlState = (failed as PostgresException)?.SqlState;
        }
        Assert.Equal(PostgresErrorCodes.ReadOnlySqlTransaction, sqlState);
        await ServerRole.PromoteAsync(_db.ConnectionString);

        // The read-only connection is dropped, not reused: the same debit, retried, commits once.
        var retried = DebitCommit(book, "during", 1m);
        Assert.Equal(book.Version + 1, await _writer.CommitAsync(retried));
        Assert.Equal(3, await LedgerRowsAsync(book.WalletId));
        Assert.True((await Reconciler.RunAsync(_db)).IsClean);
    }

    [Fact]
    public async Task Creating_a_wallet_that_exists_is_refused_as_a_concurrent_write()
    {
        var existing = (await CreateWalletsAsync("dup"))[0];
        var again = FundedBook(existing.WalletId);

        var commit = new WalletCommit(again, again.TakeChanges(), [], Now);

        await Assert.ThrowsAsync<WalletConcurrencyException>(() => _writer.CommitAsync(commit));
        Assert.Equal(1, await LedgerRowsAsync(existing.WalletId));
    }

    [Fact]
    [Trait("Rule", "R-LEDGER-4")]
    public async Task Reconcile_names_the_wallet_of_a_lot_movement_whose_entry_does_not_exist()
    {
        var book = (await CreateWalletsAsync("orphan"))[0];
        long lotId = book.OpenLots.Single().Id;
        await TestDatabase.ExecAsync(_db, "INSERT INTO qubrid_ledger_lots (wallet_id, seq, lot_id, amount) VALUES ($1, 99, $2, -1)", book.WalletId, lotId);

        var report = await Reconciler.RunAsync(_db);

        Assert.Contains(report.Violations, v => v.WalletId == book.WalletId && v.Rule == "movements belong to an entry");
    }

    /// <summary>Each wallet created with a purchased lot of 10 USD (seq 1), written together; returns books at version 1.</summary>
    private async Task<List<WalletBook>> CreateWalletsAsync(params string[] names)
    {
        var books = names.Select(n => FundedBook($"{n}-{Guid.NewGuid():N}")).ToList();
        var commits = books.Select(b => new WalletCommit(b, b.TakeChanges(), [], Now)).ToList();
        await _writer.WriteTogetherAsync(commits);
        for (int i = 0; i < books.Count; i++) books[i].Version = await commits[i].Completion.Task;
        return books;
    }

    private static WalletBook FundedBook(string walletId)
    {
        var book = WalletBook.New(walletId);
        book.Credit(new CreditRequest($"fund-{walletId}", LedgerEntryKind.Topup, Micros.FromUsd(10m), "pay"), LotKind.Purchased, Now);
        return book;
    }

    /// <summary>A debit decided on a copy of <paramref name="book"/>, with its idempotency record.</summary>
    private static WalletCommit DebitCommit(WalletBook book, string key, decimal usd, string reference = "model-x")
    {
        var work = book.Clone();
        var request = new DebitRequest(key, LedgerEntryKind.InferenceCharge, Micros.FromUsd(usd), reference);
        var outcome = work.Debit(request, Now);
        Assert.Equal(WalletOpStatus.Applied, outcome.Status);
        var entry = outcome.Entry!;
        var record = new StoredOutcome(key, RequestRules.Fingerprint(request), entry.Seq, Micros.FromUsd(usd), entry.BalanceAfter, null);
        return new WalletCommit(work, work.TakeChanges(), [record], Now);
    }

    private Task<long> LedgerRowsAsync(string walletId) =>
        TestDatabase.ScalarAsync(_db, "SELECT count(*) FROM qubrid_ledger WHERE wallet_id = $1", walletId);
}
