using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>
/// Key management (SPEC "API keys"): list, revoke, rotate. The admin manages every key, a user their own (another's is
/// 404: its existence is not revealed); issuing is <c>POST /v1/api-keys</c> in <see cref="CatalogApi"/>.
/// </summary>
public static class KeysApi
{
    /// <summary>The longest grace a rotation grants the old key, and the default.</summary>
    public const int MaxGraceSeconds = 7 * 24 * 3600;
    public const int DefaultGraceSeconds = 3600;

    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/v1/api-keys").WithTags("Keys").RequireAuthorization(Policies.KeyOwner);
        keys.MapGet("", List).WithName("ListApiKeys")
            .WithSummary("API keys (prefix, role, user, created, last used, expiry, revocation; never the secret): the admin sees all, a user their own.");
        keys.MapPost("/{keyId}/revoke", Revoke).WithName("RevokeApiKey")
            .WithSummary("Revoke a key: 401 from its next request on. A repeat is harmless. The last active admin key cannot be revoked (409 last_admin_key).")
            .Refuses(ApiProblems.ApiKeyNotFound, ApiProblems.LastAdminKey);
        keys.MapPost("/{keyId}/rotate", Rotate).WithName("RotateApiKey")
            .WithSummary("Issue a new key with the same role, user and expiry; the old key keeps working for graceSeconds (default 3600, at most 7 days), then 401.")
            .Refuses(ErrorCodes.InvalidRequest, ApiProblems.ApiKeyNotFound, ApiProblems.ApiKeyNotActive);
        return app;
    }

    private static async Task<Ok<ItemsDto<ApiKeyInfoDto>>> List(ClaimsPrincipal caller, ApiKeyStore store, CancellationToken ct)
    {
        var keys = await store.ListAsync(caller.IsInRole(Roles.Admin) ? null : caller.UserId(), ct);
        return TypedResults.Ok(new ItemsDto<ApiKeyInfoDto>(keys.Select(ApiKeyInfoDto.From).ToList()));
    }

    private static async Task<Results<Ok<ApiKeyInfoDto>, ProblemHttpResult>> Revoke(string keyId, ClaimsPrincipal caller, ApiKeyStore store, CancellationToken ct)
    {
        if (await Visible(keyId, caller, store, ct) is { } missing) return missing;
        var (status, key) = await store.RevokeAsync(keyId, ct);
        return status switch
        {
            KeyChangeStatus.Done => TypedResults.Ok(ApiKeyInfoDto.From(key!)),
            KeyChangeStatus.LastAdminKey => ApiProblems.Problem(ApiProblems.LastAdminKey, "This is the last active admin key: issue another admin key before revoking it."),
            _ => NotFound(keyId),
        };
    }

    private static async Task<Results<Created<ApiKeyDto>, ProblemHttpResult>> Rotate(
        string keyId, RotateKeyBody? body, ClaimsPrincipal caller, ApiKeyStore store, CancellationToken ct)
    {
        var grace = body?.GraceSeconds ?? DefaultGraceSeconds;
        if (grace is < 0 or > MaxGraceSeconds) return ApiProblems.Invalid($"graceSeconds must be 0–{MaxGraceSeconds}.");
        if (await Visible(keyId, caller, store, ct) is { } missing) return missing;
        var (status, issued) = await store.RotateAsync(keyId, TimeSpan.FromSeconds(grace), ct);
        return status switch
        {
            KeyChangeStatus.Done => TypedResults.Created((string?)null, ApiKeyDto.From(issued!)),
            KeyChangeStatus.NotActive => ApiProblems.Problem(ApiProblems.ApiKeyNotActive, $"API key '{keyId}' is revoked, expired or already rotated."),
            _ => NotFound(keyId),
        };
    }

    /// <summary>404 unless the key exists and the caller may manage it.</summary>
    private static async Task<ProblemHttpResult?> Visible(string keyId, ClaimsPrincipal caller, ApiKeyStore store, CancellationToken ct)
    {
        if (!ApiProblems.IsValidId(keyId)) return NotFound(keyId);
        var key = await store.GetAsync(keyId, ct);
        return key is not null && caller.CanManageKey(key) ? null : NotFound(keyId);
    }

    private static ProblemHttpResult NotFound(string keyId) => ApiProblems.Problem(ApiProblems.ApiKeyNotFound, $"API key '{keyId}' does not exist.");
}
