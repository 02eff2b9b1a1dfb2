using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;
using Qubrid.Payments;

namespace Qubrid.Api.Apis;

/// <summary>What things cost: the rate card, model prices, top-up options; and who the caller is.</summary>
public static class CatalogApi
{
    public static IEndpointRouteBuilder MapCatalogApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("Catalog");
        v1.MapGet("/rates", async (IClusterClient cluster) =>
            TypedResults.Ok(new ItemsDto<InstanceRate>(await cluster.GetGrain<IRateCardGrain>(0).GetRates())))
            .AllowAnonymous().WithName("ListRates").WithSummary("On-demand rates, USD per hour per instance type.");
        v1.MapPut("/rates/{instanceType}", SetRate).RequireAuthorization(Policies.Admin).WithName("SetRate")
            .WithSummary("Change a rate; sessions started afterwards use it, running ones keep theirs.")
            .Refuses(ErrorCodes.InvalidAmount, ErrorCodes.InvalidRequest);
        v1.MapGet("/models", async (IClusterClient cluster) =>
        {
            var prices = await cluster.GetGrain<IPriceListGrain>(0).GetPriceList();
            return TypedResults.Ok(new ModelsDto(prices.Models, prices.Premium));
        }).RequireAuthorization().WithName("ListModels").WithSummary("Model prices (USD per million input/output tokens) and premium prices.");
        v1.MapGet("/topup-options", (IOptions<TopupOptions> options) =>
        {
            var o = options.Value;
            return TypedResults.Ok(new TopupOptionsDto(o.Presets, o.Min, o.Max, "USD", o.Sandbox, o.Sandbox ? SandboxPaymentGateway.TestCards : []));
        }).RequireAuthorization().WithName("GetTopupOptions").WithSummary("Preset top-up amounts and the bounds of a custom amount.");
        v1.MapGet("/me", (ClaimsPrincipal caller) => TypedResults.Ok(new MeDto(caller.Role(), caller.UserId())))
            .RequireAuthorization().WithName("GetMe").WithSummary("The role (and user) of the calling API key.");
        v1.MapPost("/api-keys", IssueKey).RequireAuthorization(Policies.Admin).WithTags("Keys").WithName("IssueApiKey")
            .WithSummary("Issue an API key; a user key belongs to one userId; it may expire (expiresAt). The key is shown once.").Refuses(ErrorCodes.InvalidRequest);
        return app;
    }

    private static async Task<Results<Ok<InstanceRate>, ProblemHttpResult>> SetRate(string instanceType, RateBody body, IClusterClient cluster)
    {
        if (body.UsdPerHour is not { } rate) return ApiProblems.Problem(ErrorCodes.InvalidAmount, "usdPerHour is required.");
        var result = await cluster.GetGrain<IRateCardGrain>(0).SetRate(instanceType, rate);
        return result.Succeeded ? TypedResults.Ok(result.Rate!) : ApiProblems.Problem(result.ErrorCode!, result.Detail!);
    }

    private static async Task<Results<Created<ApiKeyDto>, ProblemHttpResult>> IssueKey(ApiKeyRequest body, ApiKeyStore keys, TimeProvider time, CancellationToken ct)
    {
        if (body.Role is null || !Roles.All.Contains(body.Role)) return ApiProblems.Invalid($"role must be one of {string.Join(", ", Roles.All)}.");
        if (body.Role == Roles.User && !ApiProblems.IsValidId(body.UserId)) return ApiProblems.MalformedId("userId of a user key");
        if (body.Role != Roles.User && body.UserId is not null) return ApiProblems.Invalid("Only user keys carry a userId.");
        if (body.ExpiresAt is { } expires && expires <= time.GetUtcNow()) return ApiProblems.Invalid("expiresAt must be in the future.");
        var issued = await keys.IssueKeyAsync(body.Role, body.UserId, body.ExpiresAt?.ToUniversalTime(), ct);
        return TypedResults.Created((string?)null, ApiKeyDto.From(issued));
    }
}
