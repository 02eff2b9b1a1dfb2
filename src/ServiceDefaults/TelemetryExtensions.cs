using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Qubrid.ServiceDefaults;

/// <summary>
/// OpenTelemetry for the silo and the API: billing, Orleans, ASP.NET Core, runtime and Npgsql metrics and traces,
/// scrapeable as Prometheus text on /metrics, and exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
/// </summary>
public static class TelemetryExtensions
{
    public const string BillingMeter = ClusterNames.BillingMeter;

    public static IHostApplicationBuilder AddQubridTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        bool otlp = !string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName, serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BillingMeter, "Microsoft.Orleans")
                    .AddRuntimeInstrumentation()
                    .AddAspNetCoreInstrumentation()
                    .AddNpgsqlInstrumentation()
                    .AddPrometheusExporter();
                if (otlp) metrics.AddOtlpExporter();
            })
            .WithTracing(tracing =>
            {
                tracing.AddSource("Microsoft.Orleans.Runtime", "Microsoft.Orleans.Application")
                    .AddAspNetCoreInstrumentation(o => o.Filter = c => c.Request.Path != "/metrics" && !c.Request.Path.StartsWithSegments("/health"))
                    .AddNpgsql();
                if (otlp) tracing.AddOtlpExporter();
            });
        return builder;
    }

    /// <summary>Prometheus text format on /metrics, for GET only (the exporter maps every method; another one is 405).</summary>
    public static IEndpointConventionBuilder MapQubridMetrics(this IEndpointRouteBuilder app) =>
        app.MapPrometheusScrapingEndpoint("/metrics").WithMetadata(new HttpMethodMetadata(["GET"]));
}
