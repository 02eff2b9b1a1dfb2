using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Qubrid.Api.Extensions;

/// <summary>Ready only when the cluster answers within 5 s and at least one silo is active; reports how many as <c>silos</c>.</summary>
public sealed class ActiveSiloHealthCheck(IClusterClient cluster) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            // A gateway that just died fails one call before the client routes around it: try a few times.
            Dictionary<SiloAddress, SiloStatus>? hosts = null;
            for (int attempt = 0; hosts is null; attempt++)
            {
                try { hosts = await cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(timeout.Token); }
                catch (OrleansException) when (attempt < 3) { await Task.Delay(200, timeout.Token); }
            }
            return hosts.Count > 0
                ? HealthCheckResult.Healthy(data: new Dictionary<string, object> { ["silos"] = hosts.Count })
                : HealthCheckResult.Unhealthy("No silo is active.");
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException or OrleansException)
        {
            // What is wrong, in words of our own: an exception's text may name hosts or internals.
            return HealthCheckResult.Unhealthy(e is OperationCanceledException or TimeoutException
                ? "The cluster did not answer within 5 s." : "The cluster cannot be reached.", e);
        }
    }
}
