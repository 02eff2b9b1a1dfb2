using System.ComponentModel.DataAnnotations;

namespace Qubrid.Webhooks;

/// <summary>Webhook delivery: the retry schedule, timeouts, the per-silo cap on requests in flight, and which hosts skip the address rule.</summary>
public sealed class WebhookOptions
{
    public const string Section = "Qubrid:Webhooks";

    /// <summary>How often a silo looks for new events (one query per silo), and how often an endpoint checks whether it has work.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The period of each endpoint's keep-alive reminder: after a silo dies, its endpoints resume on another within about this long.</summary>
    public TimeSpan KeepAlivePeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The first retry after a failed attempt; each further one waits twice as long, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryInitialDelay { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long an event is retried before its endpoint is disabled (<c>webhook_disabled</c>).</summary>
    public TimeSpan GiveUpAfter { get; set; } = TimeSpan.FromDays(3);

    /// <summary>One request, connection included: a slow receiver is cut off here and retried later.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Requests in flight at once on one silo, over all endpoints.</summary>
    [Range(1, 10_000)]
    public int MaxConcurrentDeliveries { get; set; } = 32;

    /// <summary>Events one endpoint reads per query.</summary>
    [Range(1, 1_000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>How long one endpoint keeps delivering before it lets the others' turns (and its own calls) run.</summary>
    public TimeSpan MaxPumpDuration { get; set; } = TimeSpan.FromSeconds(10);

    [Range(1, 1_000)]
    public int MaxEndpointsPerUser { get; set; } = 10;

    /// <summary>
    /// Hosts a user endpoint may name although they are not public https hosts (tests: 127.0.0.1). Never set in
    /// production: it lets a user make the silos call that host.
    /// </summary>
    public List<string> AllowedHosts { get; set; } = [];

    public bool IsValid() =>
        PollInterval >= TimeSpan.FromMilliseconds(10) && PollInterval <= TimeSpan.FromMinutes(1)
        && KeepAlivePeriod >= TimeSpan.FromMilliseconds(200) && KeepAlivePeriod <= TimeSpan.FromHours(1)
        && RetryInitialDelay > TimeSpan.Zero && RetryMaxDelay >= RetryInitialDelay && GiveUpAfter >= RetryInitialDelay
        && RequestTimeout > TimeSpan.Zero && RequestTimeout <= TimeSpan.FromMinutes(1)
        && ConnectTimeout > TimeSpan.Zero && ConnectTimeout <= RequestTimeout
        && MaxPumpDuration > TimeSpan.Zero && MaxPumpDuration + RequestTimeout < TimeSpan.FromSeconds(30); // a call waiting behind the loop must not time out

    /// <summary>The wait before the retry that follows <paramref name="failedAttempts"/> failures (1, 2, …).</summary>
    public TimeSpan RetryDelay(int failedAttempts)
    {
        var delay = RetryInitialDelay;
        for (int i = 1; i < failedAttempts && delay < RetryMaxDelay; i++) delay += delay;
        return delay < RetryMaxDelay ? delay : RetryMaxDelay;
    }
}
