using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Qubrid.Api.Extensions;

/// <summary>
/// The API's graceful stop (SIGTERM). The host first signals ApplicationStopping: from then on /health/ready answers 503
/// (this check), open event streams end with a reconnection hint and new ones are refused with a retryable 503. Then, in
/// <see cref="StoppingAsync"/>, the process keeps serving for <see cref="ApiOptions.DrainDelay"/> so that a load balancer
/// polling /health/ready takes it out before it stops listening; then Kestrel stops accepting and lets the requests in
/// flight finish, all within <see cref="ApiOptions.ShutdownTimeout"/>.
/// </summary>
public sealed partial class ApiDrain(IHostApplicationLifetime lifetime, IOptions<ApiOptions> options, TimeProvider time, ILogger<ApiDrain> logger)
    : IHostedLifecycleService, IHealthCheck, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Cancelled when the process starts stopping (ApplicationStopping or this service's stopping step, whichever comes first).</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Whether the process is stopping.</summary>
    public bool IsDraining => _stopping.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(IsDraining ? HealthCheckResult.Unhealthy("The process is stopping.") : HealthCheckResult.Healthy());

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        BeginDrain();
        var delay = options.Value.DrainDelay;
        LogDraining(logger, delay.TotalSeconds);
        if (delay <= TimeSpan.Zero) return;
        try
        {
            await Task.Delay(delay, time, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The shutdown bound ran out first: stop now.
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(BeginDrain);
        return Task.CompletedTask;
    }

    private void BeginDrain()
    {
        try { _stopping.Cancel(); } catch (ObjectDisposedException) { }
    }

    public void Dispose() => _stopping.Dispose();
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: not ready any more; serving for {DrainSeconds:0.#} s more, then finishing the requests in flight")]
    private static partial void LogDraining(ILogger logger, double drainSeconds);
}
