using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;

namespace Qubrid.Api.Apis;

/// <summary>A CSV download (UTF-8, as an attachment); declares its 200 text/csv response for the OpenAPI document.</summary>
public sealed class CsvFileResult(byte[] contents, string fileName) : IResult, IEndpointMetadataProvider
{
    public const string ContentType = "text/csv; charset=utf-8";

    public Task ExecuteAsync(HttpContext httpContext) => TypedResults.File(contents, ContentType, fileName).ExecuteAsync(httpContext);

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(string), ["text/csv"]));
}
