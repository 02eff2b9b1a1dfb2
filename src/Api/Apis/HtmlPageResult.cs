using System.Net;
using System.Reflection;
using System.Text;
using Microsoft.AspNetCore.Http.Metadata;

namespace Qubrid.Api.Apis;

/// <summary>A printable HTML page (receipts, statements); declares its 200 text/html response for the OpenAPI document
/// beside the endpoint's JSON one.</summary>
public sealed class HtmlPageResult(string title, string bodyHtml) : IResult, IEndpointMetadataProvider
{
    public const string MediaType = "text/html";

    /// <summary>True when the caller asked for HTML first (a browser, or <c>Accept: text/html</c>).</summary>
    public static bool Wanted(HttpRequest request) => Prefers(request, MediaType);

    /// <summary>True when <paramref name="mediaType"/> is the caller's first choice in <c>Accept</c>.</summary>
    public static bool Prefers(HttpRequest request, string mediaType) =>
        request.GetTypedHeaders().Accept is { Count: > 0 } accept
        && accept.OrderByDescending(a => a.Quality ?? 1).First().MediaType.Equals(mediaType, StringComparison.OrdinalIgnoreCase);

    public static string E(string? text) => WebUtility.HtmlEncode(text ?? "");

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'";
        var page = $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>{{E(title)}}</title>
            <style>
              body { font: 14px/1.5 system-ui, sans-serif; max-width: 720px; margin: 2rem auto; color: #111; }
              h1 { font-size: 1.4rem; } table { border-collapse: collapse; width: 100%; }
              th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
              tfoot td { font-weight: 600; } .muted { color: #666; }
              @media print { body { margin: 0; } }
            </style></head>
            <body>
            <p class="muted">Qubrid Credits</p>
            {{bodyHtml}}
            </body></html>
            """;
        await response.WriteAsync(page, Encoding.UTF8, httpContext.RequestAborted);
    }

    /// <summary>Declares text/html beside the endpoint's JSON answer (a ProducesResponseType for 200 would replace it).</summary>
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new Extensions.AlternativeContentMetadata(MediaType));
}
