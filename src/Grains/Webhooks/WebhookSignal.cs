using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Qubrid.Webhooks;

/// <summary>
/// One query per silo per poll interval for the newest event id, so that idle endpoints on this silo ask the
/// database for their own events only when something new was committed.
/// </summary>
public sealed partial class WebhookSignal(WebhookStore store, IOptions<WebhookOptions> options, ILogger<WebhookSignal> logger) : BackgroundService
{
    private long _latest = long.MaxValue; // unknown until the first read: endpoints look for themselves

    public long LatestEventId => Interlocked.Read(ref _latest);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.PollInterval;
        bool failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Interlocked.Exchange(ref _latest, await store.LatestEventIdAsync(stoppingToken));
                failing = false;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Interlocked.Exchange(ref _latest, long.MaxValue);
                if (!failing) LogPollFailed(logger, e.Message);
                failing = true;
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhooks: reading the newest event id failed ({Reason}); endpoints poll on their own until it works again")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
