using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Net.Http.Headers;

namespace Qubrid.Api.Apis;

/// <summary>
/// A CSV download (UTF-8, as an attachment) written by <paramref name="write"/> straight to the response body as it is
/// produced; declares its 200 text/csv response for the OpenAPI document.
/// </summary>
public sealed class CsvFileResult(Func<Stream, CancellationToken, Task> write, string fileName) : IResult, IEndpointMetadataProvider
{
    public const string ContentType = "text/csv; charset=utf-8";

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        var disposition = new ContentDispositionHeaderValue("attachment");
        disposition.SetHttpFileName(fileName);
        response.Headers.ContentDisposition = disposition.ToString();
        await write(response.Body, httpContext.RequestAborted);
    }

    public const string MediaType = "text/csv";

    /// <summary>Declares text/csv beside any JSON answer the endpoint also gives (a ProducesResponseType for 200 would replace it).</summary>
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new Extensions.AlternativeContentMetadata(MediaType));
}
