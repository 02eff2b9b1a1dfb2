namespace Qubrid.Tests.Webhooks;

/// <summary>
/// A bounded wait for state written after the receiver already answered (the delivery record follows the request):
/// nothing signals it, so it is polled every 20 ms up to the timeout, and the timeout names what was awaited.
/// </summary>
public static class Eventually
{
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan timeout, string what)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            if (DateTimeOffset.UtcNow > deadline) throw new TimeoutException($"Waited {timeout.TotalSeconds:0} s for {what}.");
            await Task.Delay(20);
        }
    }
}
