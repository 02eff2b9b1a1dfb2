using Qubrid.ServiceDefaults;

namespace Qubrid.Api.Apis;

/// <summary>Liveness (the process answers) and readiness (the database and the cluster answer): see <see cref="HealthExtensions"/>.</summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app) =>
        app.MapQubridHealth(detail => TypedResults.Problem(detail, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Not ready",
            extensions: new Dictionary<string, object?> { ["code"] = "not_ready" }));
}
