using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Qubrid.ServiceDefaults;

/// <summary>
/// /health/live (the process answers) and /health/ready (every registered health check passes), as the silo and the API
/// answer them: 200 <c>{"status":"live"}</c>; 200 <c>{"status":"ready"}</c> plus what the checks report (the API: <c>silos</c>).
/// </summary>
public static class HealthExtensions
{
    /// <summary>The checks every Qubrid process has: the database answers.</summary>
    public static IHealthChecksBuilder AddQubridHealthChecks(this IServiceCollection services) =>
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");

    /// <summary>Maps both endpoints; <paramref name="notReady"/> answers with the first failing check's name and description (never exception text).</summary>
    public static IEndpointRouteBuilder MapQubridHealth<TNotReady>(this IEndpointRouteBuilder app, Func<string, TNotReady> notReady)
        where TNotReady : IResult
    {
        app.MapGet("/health/live", () => TypedResults.Ok(new { status = "live" })).ExcludeFromDescription();
        app.MapGet("/health/ready", async Task<Results<Ok<Dictionary<string, object>>, TNotReady>> (HealthCheckService health, CancellationToken ct) =>
        {
            var report = await health.CheckHealthAsync(ct);
            // In the order the checks were added: the database first, as its failure explains the others'.
            // The description the check wrote, never an exception's text.
            foreach (var (name, entry) in report.Entries)
            {
                if (entry.Status != HealthStatus.Healthy) return notReady($"{name}: {entry.Description ?? "not ready."}");
            }
            var body = new Dictionary<string, object> { ["status"] = "ready" };
            foreach (var (key, value) in report.Entries.Values.SelectMany(e => e.Data)) body[key] = value;
            return TypedResults.Ok(body);
        }).ExcludeFromDescription();
        return app;
    }
}
