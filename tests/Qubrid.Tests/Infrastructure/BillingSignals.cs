using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// The system's diagnostic events of one kind (<see cref="BillingDiagnostics"/>) that the silos in this process write
/// from now on, narrowed to what one test caused. A test waits on these for an outcome that becomes durable after the
/// call that caused it has returned (a webhook delivery recorded, an auto top-up settled): no sleeping, no polling.
/// </summary>
public sealed class BillingSignals<T> : IDisposable, IObserver<DiagnosticListener>, IObserver<KeyValuePair<string, object?>> where T : class
{
    private readonly Func<T, bool> _mine;
    private readonly ConcurrentQueue<T> _seen = new();
    private readonly Channel<T> _arrivals = Channel.CreateUnbounded<T>();
    private readonly List<IDisposable> _subscriptions = [];
    private readonly IDisposable _listeners;

    private BillingSignals(Func<T, bool> mine)
    {
        _mine = mine;
        _listeners = DiagnosticListener.AllListeners.Subscribe(this); // also replays the listeners that exist already
    }

    /// <summary>The events of type <typeparamref name="T"/> written from now on for which <paramref name="mine"/> holds.</summary>
    public static BillingSignals<T> Where(Func<T, bool> mine) => new(mine);

    /// <summary>Every such event seen since this object was made, in the order they were written.</summary>
    public IReadOnlyList<T> Seen => [.. _seen];

    /// <summary>
    /// Returns what was seen once it satisfies <paramref name="done"/>, checked now and again after each new event.
    /// The timeout only bounds a hang: it names what was awaited.
    /// </summary>
    public async Task<IReadOnlyList<T>> UntilAsync(Func<IReadOnlyList<T>, bool> done, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            var seen = Seen;
            if (done(seen)) return seen;
            try
            {
                await _arrivals.Reader.ReadAsync(deadline.Token); // an arrival (it is in Seen already): look again
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"Waited {timeout.TotalSeconds:0} s for {what}; saw {_seen.Count} {typeof(T).Name} events.");
            }
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
        _arrivals.Writer.TryComplete();
    }

    void IObserver<DiagnosticListener>.OnNext(DiagnosticListener listener)
    {
        if (listener.Name != BillingDiagnostics.ListenerName) return;
        lock (_subscriptions) _subscriptions.Add(listener.Subscribe(this, name => name == typeof(T).Name));
    }

    void IObserver<KeyValuePair<string, object?>>.OnNext(KeyValuePair<string, object?> e)
    {
        if (e.Value is not T value || !_mine(value)) return;
        _seen.Enqueue(value);
        _arrivals.Writer.TryWrite(value);
    }

    void IObserver<DiagnosticListener>.OnCompleted() { }
    void IObserver<DiagnosticListener>.OnError(Exception error) { }
    void IObserver<KeyValuePair<string, object?>>.OnCompleted() { }
    void IObserver<KeyValuePair<string, object?>>.OnError(Exception error) { }
}
