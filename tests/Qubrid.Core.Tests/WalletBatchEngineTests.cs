using Microsoft.Extensions.Logging.Abstractions;
using Qubrid.Storage;
using Qubrid.Wallets;

namespace Qubrid.Core.Tests;

/// <summary>
/// The wallet's batch engine without Orleans or a database: a fake host decides with the real <see cref="WalletBatch"/>,
/// and each commit waits until the test lets it succeed or fail. Every test runs on one exclusive scheduler, one turn at
/// a time, as a grain activation runs the engine; it waits on signals only, never on time.
/// </summary>
public class WalletBatchEngineTests
{
    private static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    [Trait("Rule", "R-LEDGER-3")]
    public Task Callers_are_answered_in_arrival_order_after_the_commit_and_the_post_commit_step() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var engine = NewEngine(host);
        var a = Answered(engine.Enqueue(Debit("a")), "a", host.Log);
        var b = Answered(engine.Enqueue(Debit("b")), "b", host.Log);
        var c = Answered(engine.Enqueue(Debit("c")), "c", host.Log);

        var commit = await host.NextCommitAsync();
        Assert.Equal(["load", "decide a,b,c", "commit a,b,c"], host.Log);
        Assert.False(a.IsCompleted || b.IsCompleted || c.IsCompleted);

        commit.Succeed();
        var results = await Task.WhenAll(a, b, c);
        Assert.Equal(["load", "decide a,b,c", "commit a,b,c", "after-commit", "answer a", "answer b", "answer c"], host.Log);
        Assert.Equal([2L, 3L, 4L], results.Select(r => r.Wallet!.Seq!.Value));
        Assert.Equal([Usd(99), Usd(98), Usd(97)], results.Select(r => r.Wallet!.BalanceAfter));
        Assert.Equal(Usd(97), engine.Book!.Balance);
    });

    [Fact]
    [Trait("Rule", "R-LEDGER-3")]
    public Task A_failed_commit_fails_its_callers_and_the_next_batch_reloads_the_book_first() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var engine = NewEngine(host);
        var a = engine.Enqueue(Debit("a"));
        var b = engine.Enqueue(Debit("b"));
        var lost = new InvalidOperationException("connection lost");
        (await host.NextCommitAsync()).Fail(lost);

        Assert.Same(lost, await Assert.ThrowsAsync<InvalidOperationException>(() => a));
        Assert.Same(lost, await Assert.ThrowsAsync<InvalidOperationException>(() => b));
        Assert.True(engine.IsStale);

        var c = engine.Enqueue(Debit("c"));
        (await host.NextCommitAsync()).Succeed();
        var result = (await c).Wallet!;
        Assert.Equal(["load", "decide a,b", "commit a,b", "load", "decide c", "commit c", "after-commit"], host.Log);
        Assert.False(engine.IsStale);
        // Decided on the book as reloaded, which the failed commit never reached.
        Assert.Equal(2L, result.Seq);
        Assert.Equal(Usd(99), result.BalanceAfter);
    });

    [Fact]
    public Task A_caller_queued_behind_a_failed_commit_is_answered_by_the_next_batch() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var engine = NewEngine(host);
        var a = engine.Enqueue(Debit("a"));
        var failing = await host.NextCommitAsync();
        var b = engine.Enqueue(Debit("b"));
        failing.Fail(new InvalidOperationException("connection lost"));

        (await host.NextCommitAsync()).Succeed();
        await Assert.ThrowsAsync<InvalidOperationException>(() => a);
        Assert.Equal(2L, (await b).Wallet!.Seq);
        Assert.Equal(["load", "decide a", "commit a", "load", "decide b", "commit b", "after-commit"], host.Log);
    });

    [Fact]
    public Task A_full_queue_turns_the_caller_away_and_queues_nothing() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var engine = NewEngine(host, new WalletOptions { MaxQueueLength = 2 });
        var a = engine.Enqueue(Debit("a"));
        var first = await host.NextCommitAsync();
        var b = engine.Enqueue(Debit("b"));
        var c = engine.Enqueue(Debit("c"));

        var busy = Assert.Throws<WalletBusyException>(() => { _ = engine.Enqueue(Debit("d")); }); // at once, before anything is queued
        Assert.Equal("Wallet 'w' has 2 operations waiting; try again.", busy.Message);
        Assert.Equal(2, engine.QueueLength);

        first.Succeed();
        (await host.NextCommitAsync()).Succeed();
        await Task.WhenAll(a, b, c);
        Assert.Equal(["load", "decide a", "commit a", "after-commit", "decide b,c", "commit b,c", "after-commit"], host.Log);
        Assert.Equal(0, engine.QueueLength);
    });

    [Theory]
    [InlineData(true, 1_000, new[] { 1, 3 })]
    [InlineData(true, 2, new[] { 1, 2, 1 })]
    [InlineData(false, 1_000, new[] { 1, 1, 1, 1 })]
    public Task Callers_queued_while_a_commit_is_in_flight_go_in_the_next_batches(bool groupCommit, int maxBatchSize, int[] batchSizes) =>
        OneTurnAtATime(async () =>
        {
            var host = new FakeHost();
            var engine = NewEngine(host, new WalletOptions { GroupCommit = groupCommit, MaxBatchSize = maxBatchSize });
            var calls = new List<Task<OperationResult>> { engine.Enqueue(Debit("a")) };
            var first = await host.NextCommitAsync();
            calls.AddRange(new[] { "b", "c", "d" }.Select(key => engine.Enqueue(Debit(key))));

            first.Succeed();
            for (int i = 1; i < batchSizes.Length; i++) (await host.NextCommitAsync()).Succeed();
            var results = await Task.WhenAll(calls);
            Assert.Equal(batchSizes, host.CommittedBatchSizes);
            Assert.Equal([2L, 3L, 4L, 5L], results.Select(r => r.Wallet!.Seq!.Value));
        });

    [Fact]
    public Task The_recent_outcomes_answer_a_replayed_key_without_a_lookup_or_a_commit() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var engine = NewEngine(host);
        var first = engine.Enqueue(Debit("k"));
        (await host.NextCommitAsync()).Succeed();
        var applied = (await first).Wallet!;

        var replay = (await engine.Enqueue(Debit("k"))).Wallet!;
        Assert.Equal(applied with { Replayed = true }, replay);
        Assert.Equal(0, host.Lookups);
        Assert.Equal(["load", "decide k", "commit k", "after-commit", "decide k", "after-commit"], host.Log);
    });

    [Fact]
    [Trait("Rule", "R-IDEM-3")]
    public Task A_key_the_commit_finds_recorded_is_looked_up_and_replayed() => OneTurnAtATime(async () =>
    {
        var host = new FakeHost();
        var recorded = new StoredOutcome("k", Debit("k").Fingerprint, Seq: 9, Usd(1), Usd(42), LotId: null);
        host.Recorded["k"] = recorded;
        var engine = NewEngine(host);

        var replay = (await engine.Enqueue(Debit("k"))).Wallet!;
        Assert.Equal(recorded.ToResult(replayed: true), replay);
        Assert.Equal(1, host.Lookups);
        Assert.Equal(["load", "decide k", "commit k: key taken", "lookup k", "decide k", "after-commit"], host.Log);
    });

    private static WalletBatchEngine NewEngine(FakeHost host, WalletOptions? options = null) =>
        new("w", host, new BillingClock(new FixedTime(Now)), options ?? new WalletOptions(), NullLogger.Instance);

    private static DebitOperation Debit(string key) => new(new DebitRequest(key, LedgerEntryKind.PremiumAccess, Usd(1), $"query {key}"));

    private static Micros Usd(decimal usd) => Micros.FromUsd(usd);

    /// <summary>A wallet holding one purchased lot of 100 USD (entry 1).</summary>
    private static WalletBook Funded() => new("w", Usd(100), nextSeq: 2, version: 1,
        [new CreditLot(1, LotKind.Purchased, Usd(100), Usd(100), Now.AddDays(-1), null, "topup")]);

    private static async Task<OperationResult> Answered(Task<OperationResult> call, string name, List<string> log)
    {
        var result = await call;
        log.Add($"answer {name}");
        return result;
    }

    /// <summary>Runs the test on one exclusive scheduler, as a grain's activation runs its turns.</summary>
    private static Task OneTurnAtATime(Func<Task> test) =>
        Task.Factory.StartNew(test, CancellationToken.None, TaskCreationOptions.None, new ConcurrentExclusiveSchedulerPair().ExclusiveScheduler)
            .Unwrap().WaitAsync(TimeSpan.FromSeconds(30)); // a guard against a hang, not a wait for anything

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    /// <summary>A commit the engine handed over, waiting for the test.</summary>
    private sealed class PendingCommit
    {
        public TaskCompletionSource Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Succeed() => Outcome.SetResult();

        public void Fail(Exception e) => Outcome.SetException(e);
    }

    /// <summary>Storage in memory: what a commit wrote is what the next load reads; every call is logged.</summary>
    private sealed class FakeHost : IWalletBatchHost
    {
        private readonly Queue<PendingCommit> _arrived = new();
        private TaskCompletionSource? _arrival;
        private WalletBook _stored = Funded();

        public List<string> Log { get; } = [];
        public Dictionary<string, StoredOutcome> Recorded { get; } = new(StringComparer.Ordinal);
        public List<int> CommittedBatchSizes { get; } = [];
        public int Lookups { get; private set; }

        /// <summary>The next commit the engine hands over (one already waiting, or the next to come).</summary>
        public async Task<PendingCommit> NextCommitAsync()
        {
            while (_arrived.Count == 0)
            {
                _arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await _arrival.Task;
            }
            return _arrived.Dequeue();
        }

        public Task<WalletBook?> LoadAsync(DateTimeOffset now, CancellationToken cancellationToken)
        {
            Log.Add("load");
            return Task.FromResult<WalletBook?>(_stored.Clone());
        }

        public Task<Dictionary<string, StoredOutcome>> FindOutcomesAsync(IReadOnlyCollection<string> keys)
        {
            Lookups++;
            Log.Add($"lookup {string.Join(',', keys)}");
            return Task.FromResult(keys.Where(Recorded.ContainsKey).ToDictionary(k => k, k => Recorded[k], StringComparer.Ordinal));
        }

        public Task<BatchDecision> DecideAsync(WalletBook? book, IReadOnlyList<WalletOperation> operations, Func<string, StoredOutcome?> knownOutcome,
            bool keysLookedUp, DateTimeOffset now)
        {
            Log.Add($"decide {Keys(operations)}");
            var context = new BatchContext("w", now, keysLookedUp, null, TimeSpan.FromMinutes(30));
            return Task.FromResult(WalletBatch.Decide(book, operations, [], knownOutcome, context));
        }

        public async Task<long> CommitAsync(BatchDecision decision, DateTimeOffset now)
        {
            string keys = string.Join(',', decision.Outcomes.Select(o => o.Key));
            if (decision.Outcomes.Any(o => Recorded.ContainsKey(o.Key)))
            {
                Log.Add($"commit {keys}: key taken");
                throw new IdempotencyKeyTakenException("w");
            }
            Log.Add($"commit {keys}");
            var commit = new PendingCommit();
            _arrived.Enqueue(commit);
            _arrival?.TrySetResult();
            await commit.Outcome.Task;
            foreach (var o in decision.Outcomes) Recorded[o.Key] = o;
            _stored = decision.Book!.Clone();
            CommittedBatchSizes.Add(decision.Results.Count);
            return decision.Book!.Version + 1;
        }

        public void Adopted(BatchDecision? decision)
        {
        }

        public Task AfterCommitAsync()
        {
            Log.Add("after-commit");
            return Task.CompletedTask;
        }

        private static string Keys(IEnumerable<WalletOperation> operations) => string.Join(',', operations.Select(o => o.Key));
    }
}
