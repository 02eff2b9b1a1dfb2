using Npgsql;

namespace Qubrid.Api.Apis;

/// <summary>Liveness (the process answers) and readiness (the database and the cluster answer).</summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health/live", () => TypedResults.Ok(new { status = "live" })).ExcludeFromDescription();
        app.MapGet("/health/ready", async Task<IResult> (NpgsqlDataSource db, IClusterClient cluster, CancellationToken ct) =>
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                await using (var cmd = db.CreateCommand("SELECT 1")) await cmd.ExecuteScalarAsync(timeout.Token);
                // A gateway that just died fails one call before the client routes around it: try a few times.
                Dictionary<SiloAddress, SiloStatus>? hosts = null;
                for (int attempt = 0; hosts is null; attempt++)
                {
                    try { hosts = await cluster.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(timeout.Token); }
                    catch (OrleansException) when (attempt < 3) { await Task.Delay(200, timeout.Token); }
                }
                return hosts.Count > 0
                    ? TypedResults.Ok(new { status = "ready", silos = hosts.Count })
                    : Unavailable("No silo is active.");
            }
            catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or OrleansException)
            {
                return Unavailable(e.Message);
            }
        }).ExcludeFromDescription();
        return app;

        static IResult Unavailable(string detail) =>
            TypedResults.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready",
                extensions: new Dictionary<string, object?> { ["code"] = "not_ready" });
    }
}
