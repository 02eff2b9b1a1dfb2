using Microsoft.Extensions.Options;

namespace Qubrid.Api.Extensions;

/// <summary>Limits on failed code redemptions, so that codes cannot be guessed.</summary>
public sealed class RedemptionOptions
{
    public const string Section = "Qubrid:Redemptions";

    /// <summary>Failed redemptions (unknown, used, ended, exhausted codes) one API key may make within <see cref="Window"/>.</summary>
    public int MaxFailuresPerKey { get; set; } = 10;

    /// <summary>Failed redemptions one user may make within <see cref="Window"/>, whatever API keys they use (a new key resets nothing).</summary>
    public int MaxFailuresPerUser { get; set; } = 10;

    /// <summary>Failed redemptions one client address may make within <see cref="Window"/>, whatever keys it uses.</summary>
    public int MaxFailuresPerAddress { get; set; } = 30;

    /// <summary>How long a failure counts.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Keys and addresses tracked at once; beyond it, those with no failure inside the window are forgotten first.</summary>
    public int MaxTracked { get; set; } = 100_000;
}

/// <summary>
/// Counts failed redemptions per user, per API key and per client address in a sliding window (on the injected clock) and
/// refuses further attempts (429 with Retry-After) once one of them has reached its limit. An attempt takes its slot
/// before the grain is called (<see cref="TryBegin"/>: a provisional failure, taken under one lock, so parallel requests
/// cannot all pass one check) and gives it back when it was no failure (<see cref="Attempt.GiveBack"/>). Per API process:
/// with N processes behind a load balancer a guesser gets at most N times the limit.
/// </summary>
public sealed class RedemptionThrottle(IOptions<RedemptionOptions> options, TimeProvider time)
{
    private readonly Dictionary<string, List<DateTimeOffset>> _failures = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    private RedemptionOptions O => options.Value;

    /// <summary>Failures tracked (keys, users and addresses), for tests and diagnostics.</summary>
    public int Tracked
    {
        get { lock (_gate) return _failures.Count; }
    }

    // R-PROMO-7: failed redemptions are limited per user, per API key and per client address (429 with Retry-After).
    /// <summary>
    /// Takes a slot for one attempt in every counter of the caller, or answers how long the caller must wait (and takes none).
    /// The attempt counts as a failure until it is given back.
    /// </summary>
    public Attempt? TryBegin(string? userId, string? keyId, string address, out TimeSpan retryAfter)
    {
        var who = new List<(string Name, int Max)>(3);
        if (userId is not null) who.Add(("user:" + userId, O.MaxFailuresPerUser));
        if (keyId is not null) who.Add(("key:" + keyId, O.MaxFailuresPerKey));
        who.Add(("address:" + address, O.MaxFailuresPerAddress));
        var now = time.GetUtcNow();
        retryAfter = TimeSpan.Zero;
        lock (_gate)
        {
            foreach (var (name, max) in who)
            {
                if (!_failures.TryGetValue(name, out var failures)) continue;
                Prune(failures, now);
                if (failures.Count >= max && failures[0] + O.Window - now > retryAfter) retryAfter = failures[0] + O.Window - now;
            }
            if (retryAfter > TimeSpan.Zero) return null;
            foreach (var (name, _) in who) Slot(name).Add(now);
        }
        return new Attempt(this, [.. who.Select(w => w.Name)], now);
    }

    private List<DateTimeOffset> Slot(string name)
    {
        if (_failures.TryGetValue(name, out var failures)) return failures;
        if (_failures.Count >= O.MaxTracked) MakeRoom(time.GetUtcNow());
        return _failures[name] = [];
    }

    private void GiveBack(string[] names, DateTimeOffset at)
    {
        lock (_gate)
        {
            foreach (var name in names)
            {
                if (!_failures.TryGetValue(name, out var failures)) continue;
                failures.Remove(at);
                if (failures.Count == 0) _failures.Remove(name);
            }
        }
    }

    private void Prune(List<DateTimeOffset> failures, DateTimeOffset now)
    {
        int passed = 0;
        while (passed < failures.Count && failures[passed] + O.Window <= now) passed++;
        failures.RemoveRange(0, passed);
    }

    /// <summary>
    /// At <see cref="RedemptionOptions.MaxTracked"/>: forgets those with no failure inside the window, and when all still
    /// count, the one whose newest failure is the oldest (so the table never grows past the bound).
    /// </summary>
    private void MakeRoom(DateTimeOffset now)
    {
        string? oldest = null;
        var oldestAt = DateTimeOffset.MaxValue;
        foreach (var (name, failures) in _failures)
        {
            Prune(failures, now);
            if (failures.Count == 0) _failures.Remove(name);
            else if (failures[^1] < oldestAt) (oldest, oldestAt) = (name, failures[^1]);
        }
        if (_failures.Count >= O.MaxTracked && oldest is not null) _failures.Remove(oldest);
    }

    /// <summary>One redemption attempt's provisional failure: kept when the attempt failed, given back otherwise.</summary>
    public sealed class Attempt(RedemptionThrottle throttle, string[] names, DateTimeOffset at)
    {
        private int _given;

        /// <summary>The attempt was no failure (a success, a replay, an error): its slots are freed. Idempotent.</summary>
        public void GiveBack()
        {
            if (Interlocked.Exchange(ref _given, 1) == 0) throttle.GiveBack(names, at);
        }
    }
}
