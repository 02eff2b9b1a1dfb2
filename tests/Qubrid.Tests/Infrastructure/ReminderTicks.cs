using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Orleans.Reminders.Diagnostics;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The reminders of some grains as the silos in this process run them, seen through Orleans' reminder diagnostic events
/// (<see cref="ReminderEvents"/>). The test clusters run reminders on the test's <see cref="FakeTimeProvider"/>, so a tick
/// happens only when the test moves that clock past it: <see cref="AdvanceAsync"/> waits until each watched reminder waits
/// on the clock (<see cref="ReminderEvents.LocalReminderTickWaitArmed"/>), moves the clock, and waits for the tick that the
/// move made due (<see cref="ReminderEvents.TickCompleted"/>, written once the grain's <c>ReceiveReminder</c> has returned).
/// No sleeping, no polling; the waits are bounded only so that a broken behaviour fails instead of hanging.
/// </summary>
public sealed class ReminderTicks : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    /// <summary>How long a signal may take on a slow, shared machine before the wait fails.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private readonly GrainId[] _grains;
    private readonly Func<GrainId, bool> _watched;
    private readonly Lock _lock = new();
    private readonly Dictionary<object, LocalReminder> _local = new(ReferenceEqualityComparer.Instance); // by the instance's identity
    private readonly HashSet<SiloAddress> _forgotten = [];
    private readonly List<ReminderEvents.TickCompleted> _seen = [];
    private readonly HashSet<GrainId> _unregistered = [];
    private readonly List<(Func<bool> Done, TaskCompletionSource Signal)> _waiters = [];
    private readonly List<IDisposable> _subscriptions = [];
    private readonly IDisposable _listeners;
    private long _sequence;

    /// <summary>A silo's local instance of one reminder: whether its wait for the next tick is armed on the current schedule.</summary>
    private sealed class LocalReminder(GrainId grain, string reminder, SiloAddress silo)
    {
        public (GrainId Grain, string Reminder, SiloAddress Silo) Key { get; } = (grain, reminder, silo);
        public long ScheduleVersion;
        public long ArmedVersion = -1;
        public long ArmedAt = -1;
        public long FiringAt = -1;
        public bool Stopped;
        public bool Armed => !Stopped && ArmedVersion >= ScheduleVersion && ArmedAt > FiringAt;
    }

    private ReminderTicks(GrainId[] grains, Func<GrainId, bool>? watched = null)
    {
        _grains = grains;
        _watched = watched ?? grains.Contains;
        _listeners = DiagnosticListener.AllListeners.Subscribe(this); // also replays the listeners that exist already
    }

    /// <summary>The reminders of these grains, from now on.</summary>
    public static ReminderTicks Of(params IAddressable[] grains) => new([.. grains.Select(g => g.GetGrainId()).Distinct()]);

    /// <summary>
    /// Ticks delivered from now on to the grains with this key, whatever their type: for a host on real time whose grain
    /// factory the test does not hold (<see cref="BrowserHost"/>, which may be a running system); see <see cref="UntilAsync"/>.
    /// </summary>
    public static ReminderTicks OfKey(string key) => new([], g => g.Key.ToString() == key);

    /// <summary>Every tick completed since this object was created, in order.</summary>
    public IReadOnlyList<ReminderEvents.TickCompleted> Seen
    {
        get { lock (_lock) return [.. _seen]; }
    }

    /// <summary>From now on, ignores the reminders of a silo that was killed (it may never say that they stopped).</summary>
    public void Forget(SiloAddress silo)
    {
        lock (_lock) _forgotten.Add(silo);
    }

    /// <summary>Waits until the reminder of every watched grain waits on the clock for its next tick (on a silo not forgotten).</summary>
    public Task ArmedAsync(string what) => WaitAsync(AllArmed, $"the reminders of {what} to wait for their next tick");

    /// <summary>
    /// Moves the clock by <paramref name="by"/> once every watched reminder waits on it, then waits until each watched grain
    /// has completed a tick after the move. Move it exactly to a tick's due time, so that the grain reads the time the tick
    /// was due (a clock moved past several dues is read at each of them in turn while it moves).
    /// </summary>
    public async Task<IReadOnlyList<ReminderEvents.TickCompleted>> AdvanceAsync(FakeTimeProvider clock, TimeSpan by, string what)
    {
        if (_grains.Length == 0) throw new InvalidOperationException("Only the reminders of known grains (ReminderTicks.Of) can be waited for on a test clock.");
        await ArmedAsync(what);
        int before;
        lock (_lock) before = _seen.Count;
        clock.Advance(by);
        await WaitAsync(() => _grains.All(g => _seen.Skip(before).Any(t => t.GrainId == g)), $"a tick of {what} after the clock moved {by}");
        lock (_lock) return [.. _seen.Skip(before)];
    }

    /// <summary>
    /// On a host whose reminders run on real time: waits for the next tick, then checks the condition, and again after each
    /// further tick until it holds. For conditions only a tick can make true, so at least one tick is always awaited.
    /// </summary>
    public async Task<ReminderEvents.TickCompleted> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        int read;
        lock (_lock) read = _seen.Count;
        while (true)
        {
            int next = read;
            try
            {
                await WaitAsync(() => _seen.Count > next, what).WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0} s ({Seen.Count} reminder ticks) for {what}.");
            }
            ReminderEvents.TickCompleted tick;
            lock (_lock) tick = _seen[read++];
            if (await condition()) return tick;
        }
    }

    /// <summary>Waits until a reminder of every watched grain has been unregistered (from now on): the grain said it is done.</summary>
    public Task UnregisteredAsync(string what) => WaitAsync(() => _grains.All(_unregistered.Contains), what);

    private bool AllArmed() => _grains.All(g => _local.Values.Any(l => l.Key.Grain == g && !_forgotten.Contains(l.Key.Silo) && l.Armed));

    private async Task WaitAsync(Func<bool> done, string what)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            if (done()) return;
            _waiters.Add((done, signal));
        }
        try
        {
            await signal.Task.WaitAsync(Bound);
        }
        catch (TimeoutException)
        {
            lock (_lock) _waiters.RemoveAll(w => w.Signal == signal);
            throw new TimeoutException($"Waited {Bound.TotalSeconds:0} s ({Seen.Count} ticks seen) for {what}.");
        }
    }

    public void Dispose()
    {
        _listeners.Dispose();
        lock (_subscriptions)
        {
            foreach (var s in _subscriptions) s.Dispose();
            _subscriptions.Clear();
        }
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != ReminderEvents.ListenerName) return;
        lock (_subscriptions) _subscriptions.Add(listener.Subscribe(this));
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> e)
    {
        if (e.Value is not ReminderEvents.ReminderEvent { SiloAddress: { } silo } r || !_watched(r.GrainId)) return;
        lock (_lock)
        {
            var key = (r.GrainId, r.ReminderName, silo);
            LocalReminder Instance(object identity) =>
                _local.TryGetValue(identity, out var local) ? local : _local[identity] = new LocalReminder(r.GrainId, r.ReminderName, silo);
            long at = ++_sequence;
            switch (e.Value)
            {
                case ReminderEvents.LocalReminderStarted started:
                    Instance(started.Identity);
                    break;
                case ReminderEvents.LocalReminderScheduleChanged changed:
                    var instance = Instance(changed.Identity);
                    instance.ScheduleVersion = Math.Max(instance.ScheduleVersion, changed.ScheduleVersion);
                    break;
                case ReminderEvents.LocalReminderTickWaitArmed armed:
                    var waiting = Instance(armed.Identity);
                    waiting.ArmedVersion = Math.Max(waiting.ArmedVersion, armed.ScheduleVersion);
                    waiting.ArmedAt = at;
                    break;
                case ReminderEvents.LocalReminderStopped stopped:
                    Instance(stopped.Identity).Stopped = true;
                    break;
                case ReminderEvents.TickFiring:
                    // One live instance per reminder and silo: the firing one.
                    foreach (var firing in _local.Values.Where(l => l.Key == key && !l.Stopped)) firing.FiringAt = at;
                    break;
                case ReminderEvents.TickCompleted tick:
                    _seen.Add(tick);
                    break;
                case ReminderEvents.Unregistered:
                    _unregistered.Add(r.GrainId);
                    break;
            }
            foreach (var waiter in _waiters.Where(w => w.Done()).ToList())
            {
                _waiters.Remove(waiter);
                waiter.Signal.TrySetResult();
            }
        }
    }

    void IObserver<DiagnosticListener>.OnCompleted() { }
    void IObserver<DiagnosticListener>.OnError(Exception error) { }
    void IObserver<KeyValuePair<string, object?>>.OnCompleted() { }
    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error) { }
}
