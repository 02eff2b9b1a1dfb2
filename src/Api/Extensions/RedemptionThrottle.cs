using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Qubrid.Api.Extensions;

/// <summary>Limits on failed code redemptions, so that codes cannot be guessed.</summary>
public sealed class RedemptionOptions
{
    public const string Section = "Qubrid:Redemptions";

    /// <summary>Failed redemptions (unknown, used, ended, exhausted codes) one API key may make within <see cref="Window"/>.</summary>
    public int MaxFailuresPerKey { get; set; } = 10;

    /// <summary>Failed redemptions one client address may make within <see cref="Window"/>, whatever keys it uses.</summary>
    public int MaxFailuresPerAddress { get; set; } = 30;

    /// <summary>How long a failure counts.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Keys and addresses tracked at once; beyond it, those with no failure inside the window are forgotten first.</summary>
    public int MaxTracked { get; set; } = 100_000;
}

/// <summary>
/// Counts failed redemptions per API key and per client address in a sliding window (on the injected clock) and refuses
/// further attempts (429 with Retry-After) once either has reached its limit. Per API process: with N processes behind a
/// load balancer a guesser gets at most N times the limit.
/// </summary>
public sealed class RedemptionThrottle(IOptions<RedemptionOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    private RedemptionOptions O => options.Value;

    // R-PROMO-7: failed redemptions are limited per API key and per client address (429 with Retry-After).
    /// <summary>How long the caller must wait, or null when it may try.</summary>
    public TimeSpan? RetryAfter(string? keyId, string address)
    {
        var now = time.GetUtcNow();
        var byKey = keyId is null ? null : Wait("key:" + keyId, O.MaxFailuresPerKey, now);
        var byAddress = Wait("address:" + address, O.MaxFailuresPerAddress, now);
        return byKey is null ? byAddress : byAddress is null ? byKey : (byKey > byAddress ? byKey : byAddress);
    }

    public void RecordFailure(string? keyId, string address)
    {
        var now = time.GetUtcNow();
        if (_failures.Count >= O.MaxTracked) Forget(now);
        if (keyId is not null) Add("key:" + keyId, now);
        Add("address:" + address, now);
    }

    private TimeSpan? Wait(string who, int max, DateTimeOffset now)
    {
        if (!_failures.TryGetValue(who, out var failures)) return null;
        lock (failures)
        {
            Prune(failures, now);
            return failures.Count < max ? null : failures.Peek() + O.Window - now;
        }
    }

    private void Add(string who, DateTimeOffset now)
    {
        var failures = _failures.GetOrAdd(who, _ => new Queue<DateTimeOffset>());
        lock (failures)
        {
            Prune(failures, now);
            failures.Enqueue(now);
            // Bounded: only the newest failures up to the larger limit matter for the decision.
            while (failures.Count > Math.Max(O.MaxFailuresPerKey, O.MaxFailuresPerAddress)) failures.Dequeue();
        }
    }

    private void Prune(Queue<DateTimeOffset> failures, DateTimeOffset now)
    {
        while (failures.Count > 0 && failures.Peek() + O.Window <= now) failures.Dequeue();
    }

    private void Forget(DateTimeOffset now)
    {
        foreach (var (who, failures) in _failures)
        {
            lock (failures)
            {
                Prune(failures, now);
                if (failures.Count == 0) _failures.TryRemove(who, out _);
            }
        }
    }
}
