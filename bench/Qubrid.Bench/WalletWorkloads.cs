namespace Qubrid.Bench;

/// <summary>The two debit workloads: every caller on one hot wallet, or callers on random wallets out of many.</summary>
public static class WalletWorkloads
{
    public const string HotWorkload = "hot wallet";
    public const string ManyWorkload = "10k wallets";
    public const string HotWallet = "hot";

    public static string ManyWallet(int index) => $"m{index}";

    public static IReadOnlyList<string> ManyWallets(int count) => Enumerable.Range(0, count).Select(ManyWallet).ToList();

    /// <summary>A debit on (wallet, idempotency key).</summary>
    public delegate Task<bool> Charge(string walletId, string idempotencyKey);

    /// <summary>A debit made by caller number <c>caller</c> of the run (0 ≤ caller &lt; callers).</summary>
    public delegate Task<bool> CallerCharge(int caller, string walletId, string idempotencyKey);

    /// <summary>
    /// Opens what each of a run's callers holds for the whole run (the prepared baseline: a connection), before the
    /// run's loops start; the lease is disposed once they have all stopped.
    /// </summary>
    public delegate Task<(CallerCharge Charge, IAsyncDisposable Lease)> OpenCallers(int callers);

    public static Task<List<RunResult>> RunAsync(string target, BenchSettings settings, Charge charge,
        BillingListener? listener = null, bool hot = true, bool many = true, int[]? callers = null, bool profile = true,
        IReadOnlyList<int>? silos = null) =>
        RunAsync(target, settings, _ => Task.FromResult<(CallerCharge, IAsyncDisposable)>(((_, wallet, key) => charge(wallet, key), NoLease.Instance)),
            listener, hot, many, callers, profile, silos);

    public static async Task<List<RunResult>> RunAsync(string target, BenchSettings settings, OpenCallers open,
        BillingListener? listener = null, bool hot = true, bool many = true, int[]? callers = null, bool profile = true,
        IReadOnlyList<int>? silos = null)
    {
        var results = new List<RunResult>();
        string tag = target.Replace(' ', '_').Replace(",", "");
        Func<Task>? reset = listener is null ? null : () => { listener.Reset(); return Task.CompletedTask; };
        bool first = true;
        TimeSpan Warmup()
        {
            var warmup = first ? settings.FirstWarmup : settings.Warmup;
            first = false;
            return warmup;
        }
        foreach (int n in callers ?? settings.Callers)
        {
            if (!hot) break;
            var (charge, lease) = await open(n);
            await using (lease)
            {
                results.Add(await LoadRunner.RunAsync(target, HotWorkload, n, settings,
                    (caller, seq) => charge(caller, HotWallet, $"{tag}-h{n}-{caller}-{seq}"),
                    listener is null ? null : listener.CommitStats, reset, Warmup(), profile: profile && n == 32, silos: silos));
            }
        }
        foreach (int n in callers ?? settings.Callers)
        {
            if (!many) break;
            var random = Enumerable.Range(0, n).Select(i => new Random(1000 * n + i)).ToArray();
            var (charge, lease) = await open(n);
            await using (lease)
            {
                results.Add(await LoadRunner.RunAsync(target, ManyWorkload, n, settings,
                    (caller, seq) => charge(caller, ManyWallet(random[caller].Next(settings.ManyWallets)), $"{tag}-m{n}-{caller}-{seq}"),
                    listener is null ? null : listener.CommitStats, reset, Warmup(), profile: profile && n == 32, silos: silos));
            }
        }
        return results;
    }

    private sealed class NoLease : IAsyncDisposable
    {
        public static readonly NoLease Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
