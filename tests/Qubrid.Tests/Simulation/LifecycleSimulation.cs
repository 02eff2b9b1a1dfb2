using System.Text;
using Npgsql;
using NpgsqlTypes;
using Qubrid.Core;

namespace Qubrid.Tests.Simulation;

/// <summary>A broken invariant, with the seed and step that replay it.</summary>
public sealed class SimulationFailure(int seed, int step, int steps, string message, string history)
    : Exception($"seed {seed}, step {step}: {message}\nreplay: QUBRID_SIM_SEED={seed} QUBRID_SIM_STEPS={steps} scripts/test.sh --filter LifecycleSimulation\nlast steps:\n{history}")
{
    public int Seed { get; } = seed;
    public int Step { get; } = step;
}

/// <summary>
/// One seeded run of a random orchestrator against the real session and wallet grains (in the spirit of
/// TigerBeetle's VOPR): starts, repeated starts, starts with other parameters, stops, repeated stops, gets,
/// top-ups and promotional grants, time moving on with reminders delivered late, early, twice or not at all,
/// and faults: the database down for a while, a state write failing, a commit whose answer is lost, every
/// grain deactivated, a silo killed. Spend controls ride along: the second wallet's jobs place holds, capture, void
/// and charge queries within them; the first wallet's owner changes an hourly spending limit while queries and
/// sessions spend. After every step it checks the invariants of docs/rules.md's metering, holds and limits.
/// The same seed makes the same choices, so a failing seed replays.
/// </summary>
public sealed class LifecycleSimulation(SimCluster sim, int seed, int steps, bool allowSiloKill)
{
    private static readonly (string Type, decimal UsdPerHour)[] InstanceTypes = [("T4", 0.68m), ("A100", 1.69m), ("H100", 21.84m)];
    private static readonly TimeSpan MaxSkew = TimeSpan.FromSeconds(2);

    private readonly Random _rng = new(seed);
    private readonly SimWorld _world = sim.World;
    private readonly List<string> _wallets = [];
    private readonly List<ModelSession> _sessions = [];
    private readonly Queue<string> _history = new();
    private readonly HashSet<string> _touched = new(StringComparer.Ordinal);
    private Dictionary<string, Recorded> _lastRecorded = new(StringComparer.Ordinal);
    private int _step;
    private DateTimeOffset _maxClock = SimWorld.Epoch;
    private DateTimeOffset _faultEnd = SimWorld.Epoch;
    private TimeSpan? _reconcileEvery;
    private readonly List<(long Number, Micros Amount)> _holds = [];
    private readonly List<(DateTimeOffset At, Micros? PerHour)> _limitLog = [(SimWorld.Epoch, null)];

    private const string Model = "llama-3.3-70b-instruct";

    public int SiloKills { get; private set; }
    public int Failures { get; private set; }

    private sealed class ModelSession(string id, string userId, string instanceType)
    {
        public string Id { get; } = id;
        public string UserId { get; } = userId;
        public string InstanceType { get; } = instanceType;
        public bool Seen { get; set; }
        public DateTimeOffset LastProgress { get; set; }
        public Micros LastCharged { get; set; }
        public Micros? ChargedAtEnd { get; set; }
    }

    private sealed record Recorded(string WalletId, string SessionId, string InstanceType, decimal UsdPerHour, DateTimeOffset StartedAt,
        string State, DateTimeOffset? StoppedAt, Micros Charged, string? EndReason, Micros LedgerTotal);

    private ISessionGrain Session(string id) => sim.Grains.GetGrain<ISessionGrain>(id);
    private IWalletGrain Wallet(string id) => sim.Grains.GetGrain<IWalletGrain>(id);

    public async Task RunAsync()
    {
        _world.ClearFaults();
        _faultEnd = _world.Now;
        // A third of the orchestrators run a reconcile loop that re-posts the starts of running sessions every few seconds.
        _reconcileEvery = _rng.Next(3) == 0 ? TimeSpan.FromSeconds(3 + _rng.Next(27)) : null;
        if (_reconcileEvery is { } every) Log($"the orchestrator re-posts its starts every {every.TotalSeconds} s");
        for (int w = 0; w < 2; w++)
        {
            var id = $"w{seed}-{w}";
            _wallets.Add(id);
            await Wallet(id).Create();
        }
        for (_step = 1; _step <= steps; _step++)
        {
            _world.Skew = _rng.Next(10) < 3 ? TimeSpan.FromMicroseconds(_rng.Next(-2_000_000, 2_000_001)) : TimeSpan.Zero;
            await StepAsync();
            var clock = _world.Now + _world.Skew;
            if (clock > _maxClock) _maxClock = clock;
            await CheckAsync(everySession: false);
        }
        // The orchestrator winds down: the faults end, every session is stopped, each total is exact.
        _world.ClearFaults();
        _faultEnd = _world.Now;
        if (_world.Now > _maxClock) _maxClock = _world.Now;
        foreach (var s in _sessions) await StopAsync(s, "final stop", expectKnown: true);
        await CheckAsync(everySession: true);
    }

    private async Task StepAsync()
    {
        int roll = _rng.Next(118);
        switch (roll)
        {
            case < 14: await StartNewAsync(); break;
            case < 26: if (Pick() is { } again) await StartAsync(again, again.InstanceType, "repeat start"); break;
            case < 34: await ReconcileAsync(); break;
            case < 37: if (Pick() is { } other) await StartAsync(other, InstanceTypes[_rng.Next(InstanceTypes.Length)].Type, "start with other parameters"); break;
            case < 46: if (Pick(running: true) is { } stop) await StopAsync(stop, "stop", expectKnown: false); break;
            case < 49: if (Pick() is { } restop) await StopAsync(restop, "repeat stop", expectKnown: false); break;
            case < 52: if (Pick() is { } get) await GetAsync(get); break;
            case < 54: await ListAsync(); break;
            case < 59: await TopUpAsync(); break;
            case < 62: await GrantAsync(); break;
            case < 83: await AdvanceAsync(); break;
            case < 87: Outage(); break;
            case < 91: _world.FailStateWrites = 1 + _rng.Next(2); Log($"fault: next {_world.FailStateWrites} state write(s) fail"); break;
            case < 94: _world.LoseNextCommitAnswer = true; Log("fault: the next commit's answer is lost"); break;
            case < 97: await DeactivateAllAsync(); break;
            case < 99: WithholdReminders(); break;
            case 99: await KillSiloAsync(); break;
            case < 104: await HoldStepAsync(); break;
            case < 108: await SetLimitAsync(); break;
            default: await QueryAsync(_wallets[_rng.Next(10) < 7 ? 0 : 1], holdNumber: null); break;
        }
    }

    /// <summary>A reconcile loop: the orchestrator re-posts the start of every session it believes running.</summary>
    private async Task ReconcileAsync()
    {
        foreach (var s in _sessions.Where(s => s.Seen && s.ChargedAtEnd is null).ToList())
            await StartAsync(s, s.InstanceType, "reconcile re-post");
    }

    private ModelSession? Pick(bool running = false)
    {
        var candidates = running ? _sessions.Where(s => s.ChargedAtEnd is null).ToList() : _sessions;
        return candidates.Count == 0 ? null : candidates[_rng.Next(candidates.Count)];
    }

    private async Task StartNewAsync()
    {
        var userId = _wallets[_rng.Next(_wallets.Count)];
        int r = _rng.Next(100);
        var type = r < 40 ? "T4" : r < 75 ? "A100" : "H100";
        var s = new ModelSession($"s{seed}-{_sessions.Count}", userId, type);
        _sessions.Add(s);
        await StartAsync(s, type, "start");
    }

    private async Task StartAsync(ModelSession s, string instanceType, string what)
    {
        _touched.Add(s.Id);
        var before = await RecordedAsync(s.Id);
        var result = await CallAsync($"{what} {s.Id} ({s.UserId}, {instanceType})", () => Session(s.Id).Start(new StartSessionRequest(s.UserId, instanceType)));
        if (result is null) return;
        if (before is not null && instanceType != before.InstanceType && result.Succeeded)
            Fail($"a start of {s.Id} with {instanceType} succeeded although it runs on {before.InstanceType}");
        if (result.Succeeded && before is null && !_world.DatabaseDown)
        {
            // The runway rule, at the clock the wallet decided on: everything already running and the new session
            // must be covered for the minimum runway by what is available after what they owe.
            await CheckRunwayAsync(s.UserId);
        }
    }

    private async Task StopAsync(ModelSession s, string what, bool expectKnown)
    {
        _touched.Add(s.Id);
        var before = await RecordedAsync(s.Id);
        var result = await CallAsync($"{what} {s.Id}", () => Session(s.Id).Stop());
        if (result is null) return;
        if (!result.Succeeded && result.ErrorCode == ErrorCodes.SessionNotFound && before is not null)
            Fail($"stop of {s.Id} answered session_not_found while its wallet records it as {before.State} (charged {before.Charged})");
        if (result.Succeeded && result.Session!.State == SessionState.Running)
            Fail($"stop of {s.Id} succeeded but the session is still running");
        if (expectKnown && before is not null && !result.Succeeded)
            Fail($"the final stop of {s.Id} failed: {result.ErrorCode} {result.Detail}");
    }

    private async Task GetAsync(ModelSession s) =>
        await CallAsync($"get {s.Id}", async () => await Session(s.Id).Get() ?? (object)"null");

    /// <summary>The orchestrator's reconcile: the session list of a wallet must be what the wallet records.</summary>
    private async Task ListAsync()
    {
        var userId = _wallets[_rng.Next(_wallets.Count)];
        var page = await CallAsync($"list {userId}", () => sim.Grains.GetGrain<ISessionCatalogGrain>(0).List(new SessionQuery(userId, null, null, SessionQuery.MaxLimit)));
        if (page is null) return;
        var recorded = (await RecordedAllAsync()).Values.Where(r => r.WalletId == userId).OrderByDescending(r => r.StartedAt).ToList();
        var listed = page.Items.Select(v => $"{v.SessionId}:{v.State.ToWire()}:{v.Charged}").ToList();
        var expected = recorded.Select(r => $"{r.SessionId}:{r.State}:{r.Charged}").ToList();
        if (!listed.ToHashSet().SetEquals(expected)) Fail($"the session list of {userId} is [{string.Join(", ", listed)}], the wallet records [{string.Join(", ", expected)}]");
    }

    private async Task TopUpAsync()
    {
        var userId = _wallets[_rng.Next(_wallets.Count)];
        var usd = 1 + _rng.Next(20);
        var key = $"topup-{seed}-{_step}";
        await CallAsync($"top up {userId} {usd} USD", () => Wallet(userId).Credit(new CreditRequest(key, LedgerEntryKind.Topup, Micros.FromUsd(usd), "sim top-up")));
        if (_rng.Next(3) == 0) // the client retries after a timeout, same key
            await CallAsync($"retry top up {userId}", () => Wallet(userId).Credit(new CreditRequest(key, LedgerEntryKind.Topup, Micros.FromUsd(usd), "sim top-up")));
    }

    private async Task GrantAsync()
    {
        var userId = _wallets[_rng.Next(_wallets.Count)];
        var usd = 1 + _rng.Next(5);
        var expiresAt = _world.Now + TimeSpan.FromSeconds(30 + _rng.Next(600));
        await CallAsync($"grant {userId} {usd} USD until {expiresAt:HH:mm:ss}", () => Wallet(userId).Credit(
            new CreditRequest($"grant-{seed}-{_step}", LedgerEntryKind.Grant, Micros.FromUsd(usd), "sim promotion", expiresAt)));
    }

    /// <summary>The second wallet's jobs: place a hold, capture part of one (sometimes more than it holds), void one, or charge a query within one.</summary>
    private async Task HoldStepAsync()
    {
        var userId = _wallets[1];
        int r = _holds.Count == 0 ? 0 : _rng.Next(4);
        var key = $"hold-{seed}-{_step}";
        if (r == 0)
        {
            var amount = new Micros(_rng.NextInt64(100_000, 5_000_000));
            var expiresAt = _world.Now + TimeSpan.FromSeconds(30 + _rng.Next(1_200));
            var request = new HoldRequest(key, amount, expiresAt, "sim job");
            var created = await CallAsync($"hold {amount} on {userId} until {expiresAt:HH:mm:ss}", () => Wallet(userId).CreateHold(request));
            if (created is { Result.Succeeded: true, Hold: { } hold } && HoldIds.TryParse(hold.HoldId, out _, out var number))
            {
                _holds.Add((number, amount));
                var again = await CallAsync($"retry hold {key}", () => Wallet(userId).CreateHold(request)); // the client retries: same hold
                if (again is { Result.Succeeded: true, Hold: { } replayed } && replayed.HoldId != hold.HoldId)
                    Fail($"a retried hold under {key} answered {replayed.HoldId}, the first answer was {hold.HoldId}");
            }
            return;
        }
        var (holdNumber, held) = _holds[_rng.Next(_holds.Count)];
        if (r == 1)
        {
            var capture = new Micros(_rng.NextInt64(0, held.Value * 6 / 5));
            var result = await CallAsync($"capture {capture} of hold {holdNumber}", () => Wallet(userId).SettleHold(new HoldSettleRequest(key, holdNumber, capture, false)));
            if (result is { Result.Succeeded: true } && capture > held) Fail($"a capture of {capture} within a hold of {held} succeeded");
            if (result is { Result.Succeeded: true, Hold: { } h } && h.Captured > h.Amount) Fail($"hold {h.HoldId} captured {h.Captured} of {h.Amount}");
        }
        else if (r == 2)
        {
            await CallAsync($"void hold {holdNumber}", () => Wallet(userId).SettleHold(new HoldSettleRequest(key, holdNumber, Micros.Zero, true)));
        }
        else
        {
            await QueryAsync(userId, holdNumber);
        }
    }

    /// <summary>An inference query (sometimes within a hold), retried once in a while under its key.</summary>
    private async Task QueryAsync(string userId, long? holdNumber)
    {
        var request = new InferenceChargeRequest($"query-{seed}-{_step}", Model, _rng.Next(1, 2_000_000), _rng.Next(1, 1_000_000), holdNumber);
        await CallAsync($"query on {userId}{(holdNumber is { } n ? $" within hold {n}" : "")}", () => Wallet(userId).ChargeInference(request));
        if (_rng.Next(4) == 0) await CallAsync("retry query", () => Wallet(userId).ChargeInference(request));
    }

    /// <summary>The first wallet's owner sets (or lifts) an hourly spending limit.</summary>
    private async Task SetLimitAsync()
    {
        var userId = _wallets[0];
        Micros? perHour = _rng.Next(4) == 0 ? null : new Micros(_rng.NextInt64(200_000, 8_000_000));
        var result = await CallAsync($"limit {userId} to {perHour?.ToString() ?? "none"} per hour", async () => await Wallet(userId).SetLimits(LimitScope.Owner, new SpendLimits(perHour)) ?? throw new InvalidOperationException("no wallet"));
        // The limit may have been applied even when the answer was lost: both are in force around this instant.
        _limitLog.Add((_world.Now + _world.Skew, perHour));
        if (result is null) _limitLog.Add((_world.Now + _world.Skew, null));
    }

    /// <summary>
    /// Time moves on by up to 1.5 intervals; every reminder due by then is delivered (late), some twice, some early.
    /// With a reconcile loop, time moves in its period and the loop re-posts its starts in between.
    /// </summary>
    private async Task AdvanceAsync()
    {
        var by = TimeSpan.FromMilliseconds(1_000 + _rng.Next(89_000));
        var target = _world.Now + by;
        Log($"time +{by.TotalSeconds:0.###} s → {target:HH:mm:ss.fff}");
        while (_world.Now < target)
        {
            var next = _reconcileEvery is { } every && _world.Now + every < target ? _world.Now + every : target;
            _world.Time.Advance(next - _world.Now);
            await DeliverDueAsync();
            if (_reconcileEvery is not null && _world.Now < target) await ReconcileAsync();
        }
    }

    private async Task DeliverDueAsync()
    {
        var now = _world.Now;
        bool withheld = now < _withheldUntil;
        foreach (var entry in _world.Reminders.Snapshot().OrderBy(e => e.Due).ThenBy(e => e.Name, StringComparer.Ordinal))
        {
            // A metering shard ("meter") charges whatever wallets of its bucket run sessions: this run's, in its lane's database.
            if (!Mine(entry.GrainId) && entry.Name != MeteringShardGrain.ChargeReminder) continue;
            if (entry.Due > now)
            {
                if (_rng.Next(40) == 0) await DeliverAsync(entry, "early");
                continue;
            }
            if (withheld || _rng.Next(50) == 0)
            {
                Log($"reminder {entry.Name} of {entry.GrainId} not delivered");
                _faultEnd = now;
                _world.Reminders.Advance(entry, now);
                continue;
            }
            await DeliverAsync(entry, "due");
            if (_rng.Next(20) == 0) await DeliverAsync(entry, "twice");
            _world.Reminders.Advance(entry, now);
        }
    }

    private DateTimeOffset _withheldUntil = DateTimeOffset.MinValue;

    private void WithholdReminders()
    {
        _withheldUntil = _world.Now + TimeSpan.FromSeconds(10 + _rng.Next(80));
        _faultEnd = _withheldUntil;
        Log($"fault: reminders withheld until {_withheldUntil:HH:mm:ss}");
    }

    private bool Mine(GrainId id)
    {
        var key = id.Key.ToString() ?? "";
        return key.StartsWith($"s{seed}-", StringComparison.Ordinal) || key.StartsWith($"w{seed}-", StringComparison.Ordinal);
    }

    private async Task DeliverAsync(SimReminders.Entry entry, string how)
    {
        _touched.Add(entry.GrainId.Key.ToString() ?? "");
        var status = new TickStatus(entry.Due.UtcDateTime, entry.Period, _world.Now.UtcDateTime);
        await CallAsync($"reminder {entry.Name} of {entry.GrainId} ({how})", async () =>
        {
            await sim.Grains.GetGrain<IRemindable>(entry.GrainId).ReceiveReminder(entry.Name, status);
            return "delivered";
        });
    }

    private void Outage()
    {
        var until = _world.Now + TimeSpan.FromSeconds(5 + _rng.Next(115));
        _world.DatabaseDownUntil = until;
        if (until > _faultEnd) _faultEnd = until;
        Log($"fault: the database is down until {until:HH:mm:ss}");
    }

    private async Task DeactivateAllAsync()
    {
        Log("fault: every grain is deactivated");
        await sim.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);
    }

    private async Task KillSiloAsync()
    {
        if (!allowSiloKill || SiloKills >= 1) return;
        SiloKills++;
        var victim = sim.Cluster.Silos[^1];
        Log($"fault: silo {victim.SiloAddress} is killed");
        _world.Suspended = true; // the cluster heals with the database up, as it would between outages
        try
        {
            await sim.Cluster.KillSiloAsync(victim);
            await sim.Cluster.StartAdditionalSiloAsync();
            await sim.Cluster.WaitForLivenessToStabilizeAsync(didKill: true);
        }
        finally
        {
            _world.Suspended = false;
        }
    }

    /// <summary>Runs one orchestrator call; a fault (an exception) is an answer the orchestrator may retry, not a failure.</summary>
    private async Task<T?> CallAsync<T>(string what, Func<Task<T>> call) where T : class
    {
        try
        {
            var result = await call();
            Log($"{what} → {Describe(result)}");
            return result;
        }
        catch (Exception e) when (e is not SimulationFailure)
        {
            Log($"{what} → {e.GetType().Name}: {FirstLine(e.Message)}");
            return null;
        }
    }

    private static string Describe(object? result) => result switch
    {
        SessionOpResult r when r.Succeeded => $"{r.Session!.State} charged {r.Session.Charged}" + (r.Debited.IsPositive ? $" (+{r.Debited})" : ""),
        SessionOpResult r => $"{r.Status} {r.ErrorCode}",
        WalletOpResult r => $"{r.Status}{(r.Replayed ? " replayed" : "")}",
        SessionView v => $"{v.State} charged {v.Charged}",
        HoldOpResult { Result.Succeeded: true } h => $"{h.Hold?.State} {h.Hold?.HoldId} captured {h.Hold?.Captured}{(h.Result.Replayed ? " replayed" : "")}",
        HoldOpResult h => $"{h.Result.Status} {h.Result.ErrorCode}",
        LimitsView l => $"in force {l.Effective.PerHour?.ToString() ?? "none"}/h, spent {l.SpentHour} this hour",
        _ => result?.ToString() ?? "null",
    };

    private static string FirstLine(string s) => s.Split('\n')[0];

    // ---------------- invariants ----------------

    /// <summary>
    /// Checks every invariant. GET is compared with the wallet for the sessions the step touched or whose record
    /// changed, plus one at random (every session at the end of a seed): the rest cannot have moved.
    /// </summary>
    private async Task CheckAsync(bool everySession)
    {
        _world.Suspended = true;
        try
        {
            var recorded = await RecordedAllAsync();
            if (_sessions.Count > 0) _touched.Add(_sessions[_rng.Next(_sessions.Count)].Id);
            foreach (var s in _sessions)
            {
                var r = recorded.GetValueOrDefault(s.Id);
                bool compareGet = everySession || _touched.Contains(s.Id) || r != _lastRecorded.GetValueOrDefault(s.Id);
                await CheckSessionAsync(s, r, compareGet);
            }
            _lastRecorded = recorded;
            _touched.Clear();
            await CheckWalletsAsync();
            await CheckHoldsAsync();
            await CheckLimitsAsync();
        }
        finally
        {
            _world.Suspended = false;
        }
    }

    private async Task CheckSessionAsync(ModelSession s, Recorded? r, bool compareGet)
    {
        if (compareGet)
        {
            var view = await Session(s.Id).Get();
            if (r is null)
            {
                if (view is not null) Fail($"GET {s.Id} answers {view.State} but its wallet has no record of it");
                return;
            }
            if (view is null) Fail($"GET {s.Id} answers not found while its wallet records it as {r.State}, charged {r.Charged}");
            if (view!.State.ToWire() != r.State || view.Charged != r.Charged || view.StartedAt != r.StartedAt || view.StoppedAt != r.StoppedAt)
                Fail($"GET {s.Id} answers {view.State} charged {view.Charged} stopped {view.StoppedAt:O}; the wallet records {r.State} charged {r.Charged} stopped {r.StoppedAt:O}");
        }
        if (r is null) return;
        if (r.Charged != r.LedgerTotal) Fail($"{s.Id}: the session record says charged {r.Charged}, its ledger entries {r.LedgerTotal}");

        var bound = Metering.Owed(r.UsdPerHour, r.StartedAt, _maxClock);
        if (r.Charged > bound) Fail($"{s.Id} charged {r.Charged}, more than the formula allows at the latest clock ({bound})");
        if (r.State == "running")
        {
            if (!s.Seen || r.Charged > s.LastCharged)
            {
                s.Seen = true;
                s.LastProgress = _world.Now;
                s.LastCharged = r.Charged;
            }
            var since = s.LastProgress > _faultEnd ? s.LastProgress : _faultEnd;
            if (_world.Now - since > 2 * SimCluster.ChargeInterval)
                Fail($"{s.Id} runs unbilled since {since:HH:mm:ss} ({(_world.Now - since).TotalSeconds:0} s, more than 2 intervals)");
            return;
        }
        if (s.ChargedAtEnd is { } atEnd)
        {
            if (r.Charged != atEnd) Fail($"{s.Id} was charged {r.Charged - atEnd} after it ended");
            return;
        }
        s.ChargedAtEnd = r.Charged;
        var formula = Metering.Owed(r.UsdPerHour, r.StartedAt, r.StoppedAt!.Value);
        if (r.EndReason == EndReasons.Stopped && r.Charged != formula)
            Fail($"{s.Id} stopped with {r.Charged} charged; the formula over its recorded times gives {formula}");
        if (r.EndReason == EndReasons.InsufficientCredits)
        {
            if (r.Charged > formula) Fail($"{s.Id} terminated with {r.Charged} charged, more than the formula's {formula}");
            var available = await AvailableAsync(r.WalletId, _world.Now + MaxSkew);
            if (available.IsPositive) Fail($"{s.Id} was terminated for insufficient credits while {r.WalletId} holds {available}");
        }
    }

    private async Task CheckRunwayAsync(string walletId)
    {
        _world.Suspended = true;
        try
        {
            var clock = _world.Now + _world.Skew;
            var available = await AvailableAsync(walletId, clock);
            var running = (await RecordedAllAsync()).Values.Where(r => r.WalletId == walletId && r.State == "running").ToList();
            var burn = running.Sum(r => r.UsdPerHour);
            var owedUncharged = running.Aggregate(Micros.Zero, (sum, r) =>
            {
                var owed = Metering.Owed(r.UsdPerHour, r.StartedAt, clock) - r.Charged;
                return owed.IsPositive ? sum + owed : sum;
            });
            var required = Metering.Owed(burn, clock, clock + SimCluster.MinimumRunway);
            if (available - owedUncharged < required)
                Fail($"{walletId} started a session with {available} available and {owedUncharged} owed: {running.Count} running sessions burning {burn} USD/h need {required} for the minimum runway");
        }
        finally
        {
            _world.Suspended = false;
        }
    }

    private async Task CheckWalletsAsync()
    {
        await using var cmd = sim.Db.CreateCommand(
            """
            SELECT w.wallet_id, w.balance,
                   (SELECT coalesce(sum(amount), 0) FROM qubrid_ledger l WHERE l.wallet_id = w.wallet_id)::bigint,
                   (SELECT coalesce(sum(remaining), 0) FROM qubrid_lots o WHERE o.wallet_id = w.wallet_id)::bigint
            FROM qubrid_wallets w WHERE w.wallet_id = ANY($1)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _wallets.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            long balance = reader.GetInt64(1), entries = reader.GetInt64(2), lots = reader.GetInt64(3);
            if (balance != entries || balance != lots) Fail($"{reader.GetString(0)}: balance {balance}, entries sum to {entries}, lots hold {lots}");
        }
    }

    /// <summary>What the wallet's lots hold at <paramref name="at"/> beyond what active holds keep (what sessions may take).</summary>
    private async Task<Micros> AvailableAsync(string walletId, DateTimeOffset at) =>
        new(await Infrastructure.TestDatabase.ScalarAsync(sim.Db,
            """
            SELECT (SELECT coalesce(sum(remaining), 0) FROM qubrid_lots WHERE wallet_id = $1 AND (expires_at IS NULL OR expires_at > $2))
                 - (SELECT coalesce(sum(amount), 0) FROM qubrid_holds WHERE wallet_id = $1 AND state = 'active' AND expires_at > $2)
            """,
            walletId, at.UtcDateTime));

    /// <summary>Active holds are always covered: the lots live now hold at least what active holds keep; a capture never exceeds its hold.</summary>
    private async Task CheckHoldsAsync()
    {
        var clock = _world.Now + MaxSkew;
        var uncovered = await AvailableAsync(_wallets[1], clock);
        if (uncovered.IsNegative) Fail($"{_wallets[1]}: active holds keep {-uncovered} more than its live lots hold");
        var over = await Infrastructure.TestDatabase.ScalarAsync(sim.Db,
            "SELECT count(*) FROM qubrid_holds WHERE wallet_id = $1 AND (captured > amount OR (state <> 'captured' AND captured <> 0))", _wallets[1]);
        if (over > 0) Fail($"{_wallets[1]}: {over} hold(s) captured more than they held");
    }

    /// <summary>
    /// Spending never passes an hourly limit: after each spending entry (session, query, premium) of the first wallet, what its
    /// UTC hour has spent so far is at most the limit in force at that entry's instant (the highest of those set within the
    /// clock skew of it; none when a limit was lifted then).
    /// </summary>
    private async Task CheckLimitsAsync()
    {
        await using var cmd = sim.Db.CreateCommand(
            """
            SELECT at, (-amount)::bigint FROM qubrid_ledger
            WHERE wallet_id = $1 AND kind IN ('session_charge', 'inference_charge', 'premium_access') ORDER BY seq
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _wallets[0] });
        await using var reader = await cmd.ExecuteReaderAsync();
        var spentByHour = new Dictionary<DateTimeOffset, Micros>();
        while (await reader.ReadAsync())
        {
            var at = new DateTimeOffset(reader.GetDateTime(0), TimeSpan.Zero);
            var hour = SpendPeriods.StartOf(SpendPeriod.Hour, at);
            var spent = spentByHour[hour] = spentByHour.GetValueOrDefault(hour) + new Micros(reader.GetInt64(1));
            Micros? bound = Micros.Zero;
            for (int i = 0; i < _limitLog.Count; i++)
            {
                var (from, limit) = _limitLog[i];
                var until = i + 1 < _limitLog.Count ? _limitLog[i + 1].At : DateTimeOffset.MaxValue;
                if (from > at + MaxSkew || until < at - MaxSkew) continue; // not in force at this instant
                bound = limit is null || bound is null ? null : Micros.Max(bound.Value, limit.Value);
            }
            if (bound is { } b && spent > b) Fail($"{_wallets[0]} had spent {spent} in the hour from {hour:HH:mm} by {at:HH:mm:ss.fff}, over its limit of {b}");
        }
    }

    private async Task<Recorded?> RecordedAsync(string sessionId)
    {
        _world.Suspended = true;
        try
        {
            return (await RecordedAllAsync()).GetValueOrDefault(sessionId);
        }
        finally
        {
            _world.Suspended = false;
        }
    }

    private async Task<Dictionary<string, Recorded>> RecordedAllAsync()
    {
        await using var cmd = sim.Db.CreateCommand(
            """
            SELECT s.wallet_id, s.session_id, s.instance_type, s.usd_per_hour, s.started_at, s.state, s.stopped_at, s.charged, s.end_reason,
                   (SELECT coalesce(-sum(l.amount), 0) FROM qubrid_ledger l
                    WHERE l.wallet_id = s.wallet_id AND l.session_id = s.session_id AND l.kind = 'session_charge')::bigint
            FROM qubrid_wallet_sessions s WHERE s.wallet_id = ANY($1)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = _wallets.ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
        await using var reader = await cmd.ExecuteReaderAsync();
        var found = new Dictionary<string, Recorded>(StringComparer.Ordinal);
        while (await reader.ReadAsync())
        {
            var r = new Recorded(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetDecimal(3),
                new DateTimeOffset(reader.GetDateTime(4), TimeSpan.Zero), reader.GetString(5),
                reader.IsDBNull(6) ? null : new DateTimeOffset(reader.GetDateTime(6), TimeSpan.Zero),
                new Micros(reader.GetInt64(7)), reader.IsDBNull(8) ? null : reader.GetString(8), new Micros(reader.GetInt64(9)));
            found[r.SessionId] = r;
        }
        return found;
    }

    private void Log(string line)
    {
        _history.Enqueue($"  [{_step}] {line}");
        while (_history.Count > 40) _history.Dequeue();
    }

    private void Fail(string message)
    {
        Failures++;
        throw new SimulationFailure(seed, _step, steps, message, string.Join('\n', _history));
    }
}
