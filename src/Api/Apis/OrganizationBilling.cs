using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>Which wallet usage is billed to, and whom it was for (a member of an organization, a project).</summary>
/// <param name="WalletId">The wallet debited: the user's own, or the organization's.</param>
/// <param name="MemberId">The member the usage was for, when billed to an organization.</param>
public sealed record BilledTo(string WalletId, string? MemberId, string? ProjectId);

public static class OrganizationBilling
{
    // R-ORG-4: usage is billed to an organization only for a member, as the organization answers now (never a cached answer).
    /// <summary>
    /// The wallet usage for <paramref name="userId"/> is billed to: their own (no <paramref name="walletId"/>, or their own id), or
    /// the organization <paramref name="walletId"/> when they are a member (else 403 <c>not_a_member</c>).
    /// </summary>
    public static async Task<(BilledTo? Billed, ProblemHttpResult? Refused)> ResolveAsync(IClusterClient cluster, string userId, string? walletId, string? projectId)
    {
        if (projectId is not null && !ApiProblems.IsValidId(projectId)) return (null, ApiProblems.MalformedId("projectId"));
        if (walletId is null || walletId == userId) return (new BilledTo(userId, null, projectId), null);
        if (!ApiProblems.IsValidId(walletId)) return (null, ApiProblems.MalformedId("walletId"));
        if (!OrgRoles.IsOrganizationId(walletId) || await cluster.GetGrain<IOrganizationGrain>(walletId).RoleOf(userId) is null)
            return (null, ApiProblems.Problem(ErrorCodes.NotAMember, $"'{userId}' is not a member of '{walletId}': usage cannot be billed to it."));
        return (new BilledTo(walletId, userId, projectId), null);
    }
}
