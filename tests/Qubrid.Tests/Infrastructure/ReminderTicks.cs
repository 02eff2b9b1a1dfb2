using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Orleans.Reminders.Diagnostics;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The reminder ticks that the silos in this process deliver to some grains, seen through Orleans' reminder diagnostic
/// events (<see cref="ReminderEvents.TickCompleted"/>, written once the grain's <c>ReceiveReminder</c> has returned).
/// A test that must see a real reminder fire waits on these ticks: no sleeping, no polling.
/// </summary>
public sealed class ReminderTicks : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>>
{
    private readonly Func<GrainId, bool> _grains;
    private readonly Channel<ReminderEvents.TickCompleted> _unread = Channel.CreateUnbounded<ReminderEvents.TickCompleted>();
    private readonly ConcurrentQueue<ReminderEvents.TickCompleted> _seen = new();
    private readonly List<IDisposable> _subscriptions = [];
    private readonly IDisposable _listeners;

    private ReminderTicks(Func<GrainId, bool> grains)
    {
        _grains = grains;
        _listeners = DiagnosticListener.AllListeners.Subscribe(this); // also replays the listeners that exist already
    }

    /// <summary>Ticks delivered to this grain from now on.</summary>
    public static ReminderTicks Of(IAddressable grain)
    {
        var id = grain.GetGrainId();
        return new ReminderTicks(g => g == id);
    }

    /// <summary>Ticks delivered from now on to the grains with this key, whatever their type (for hosts whose grain factory the test does not hold).</summary>
    public static ReminderTicks OfKey(string key) => new(g => g.Key.ToString() == key);

    /// <summary>Every tick seen since this object was created, in order.</summary>
    public IReadOnlyList<ReminderEvents.TickCompleted> Seen => [.. _seen];

    /// <summary>
    /// Waits for the next tick, then checks the condition, and again after each further tick until it holds.
    /// For conditions only a tick can make true, so at least one tick is always awaited. Bounded by the timeout.
    /// </summary>
    public async Task<ReminderEvents.TickCompleted> UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            ReminderEvents.TickCompleted tick;
            try
            {
                tick = await _unread.Reader.ReadAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0} s ({_seen.Count} reminder ticks) for {what}.");
            }
            if (await condition()) return tick;
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
        _unread.Writer.TryComplete();
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != ReminderEvents.ListenerName) return;
        lock (_subscriptions) _subscriptions.Add(listener.Subscribe(this));
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> e)
    {
        if (e.Value is not ReminderEvents.TickCompleted tick || !_grains(tick.GrainId)) return;
        _seen.Enqueue(tick);
        _unread.Writer.TryWrite(tick);
    }

    void IObserver<DiagnosticListener>.OnCompleted() { }
    void IObserver<DiagnosticListener>.OnError(Exception error) { }
    void IObserver<KeyValuePair<string, object?>>.OnCompleted() { }
    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error) { }
}
