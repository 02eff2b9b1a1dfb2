using System.Security.Claims;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Auth;

/// <summary>What a caller does with a wallet, for the roles of an organization (docs/rules.md#R-ORG-2).</summary>
public enum WalletRight
{
    /// <summary>The balance (GET the wallet): every member.</summary>
    Balance,

    /// <summary>The usage history: every member (a member sees only their own rows).</summary>
    Usage,

    /// <summary>Lots, ledger, holds, limits, receipts, statements: owner and billing.</summary>
    Read,

    /// <summary>Top-ups, limits, auto top-up: owner and billing.</summary>
    Money,

    /// <summary>Members, budgets, webhooks: the owner.</summary>
    Manage,
}

/// <summary>
/// A user's role in an organization, as the API asks it: <see cref="IOrganizationGrain.RoleOf"/>, cached for
/// <see cref="ApiOptions.MembershipCacheSeconds"/>; a change made through this process drops its entry at once.
/// </summary>
public sealed class OrganizationRoles(IClusterClient cluster, IMemoryCache cache, IOptions<ApiOptions> options)
{
    /// <summary>The claim <see cref="AddClaimsAsync"/> adds: "walletId role" of the wallet the request names.</summary>
    public const string Claim = "qubrid:org-role";

    private sealed record CacheKey(string OrgId, string UserId);

    public async Task<OrgRole?> RoleOfAsync(string orgId, string userId)
    {
        var key = new CacheKey(orgId, userId);
        if (cache.TryGetValue(key, out OrgRole? cached)) return cached;
        var role = await cluster.GetGrain<IOrganizationGrain>(orgId).RoleOf(userId);
        cache.Set(key, role, TimeSpan.FromSeconds(Math.Max(0, options.Value.MembershipCacheSeconds)));
        return role;
    }

    public void Forget(string orgId, string userId) => cache.Remove(new CacheKey(orgId, userId));

    /// <summary>
    /// For a user's request to another wallet that is an organization's (<c>{userId}</c> in the route), adds the user's role there
    /// as a claim, so that <see cref="CallerExtensions.CanSeeWallet"/> decides every wallet route in one place.
    /// </summary>
    public async Task AddClaimsAsync(HttpContext context)
    {
        var user = context.User;
        if (!user.IsInRole(Roles.User) || user.UserId() is not { } userId || !context.Request.Path.StartsWithSegments("/v1/wallets")) return;
        if (context.GetRouteValue("userId") is not string walletId || walletId == userId || !OrgRoles.IsOrganizationId(walletId)) return;
        if (await RoleOfAsync(walletId, userId) is not { } role) return;
        user.AddIdentity(new ClaimsIdentity([new Claim(Claim, $"{walletId} {role.ToWire()}")]));
    }
}

public static class OrganizationRolesMiddleware
{
    /// <summary>After authentication: the caller's role in the organization whose wallet the route names (see <see cref="OrganizationRoles.AddClaimsAsync"/>).</summary>
    public static WebApplication UseOrganizationRoles(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            await context.RequestServices.GetRequiredService<OrganizationRoles>().AddClaimsAsync(context);
            await next(context);
        });
        return app;
    }
}
